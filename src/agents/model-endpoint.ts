import { IcpyError } from '../core/errors.js';

/** Where workflows send their model requests: an OpenAI-compatible endpoint (config.agents). */
export interface ModelEndpoint {
  /** `http://127.0.0.1:11434/v1`; '' = none configured (runs are MODEL_UNAVAILABLE). */
  baseUrl: string;
  /** Sent as the bearer key; never logged or put in events. */
  apiKey: string;
  model: string;
}

export interface ModelCallHooks {
  /** A model request is about to go out (1-based count): one step of the run. */
  onRequest(index: number): void;
  /** The endpoint answered an HTTP error (kept so the run fails with MODEL_ERROR, not a generic one). */
  onHttpError(status: number, body: string): void;
}

/**
 * The fetch both SDKs' OpenAI clients use: every model request is a step of the run, it is
 * bounded by `maxTurns`, and it is aborted with the run (cancel, timeout), whatever the SDK does
 * with its own signals.
 */
export function modelFetch(signal: AbortSignal, maxTurns: number, hooks: ModelCallHooks): typeof fetch {
  let count = 0;
  return async (input, init) => {
    if (signal.aborted) throw signal.reason;
    count += 1;
    if (count > maxTurns) {
      throw new IcpyError('LIMIT_EXCEEDED', `The run took ${maxTurns} model turns, the maximum (agents.maxTurns = ${maxTurns})`, {
        limit: 'agents.maxTurns',
        max: maxTurns,
      });
    }
    hooks.onRequest(count);
    const own = init?.signal;
    const res = await fetch(input, { ...init, signal: own ? AbortSignal.any([own, signal]) : signal });
    if (res.status >= 400) {
      const body = await res.clone().text().catch(() => '');
      hooks.onHttpError(res.status, body.slice(0, 2000));
    }
    return res;
  };
}
