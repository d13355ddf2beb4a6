import { redactToken } from '../core/security.js';
import type { Logger } from '../core/logger.js';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;

/**
 * JSON-lines logger to a writable (stderr by default). Any occurrence of the server token in a
 * line is replaced, and `token=` query values are redacted, so the token never reaches logs.
 */
export function createLogger(
  level: keyof typeof LEVELS,
  secret: string,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const min = LEVELS[level];
  // The secret as it appears inside a JSON string (quotes, backslashes, controls escaped), and
  // percent-encoded (in a logged URL); a token given with --token may contain any of these.
  const forms = secret ? [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])] : [];
  const emit = (lvl: keyof typeof LEVELS, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    let line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields });
    line = redactToken(line);
    for (const f of forms) line = line.split(f).join('[redacted]');
    write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    enabled: (lvl) => LEVELS[lvl] >= min,
  };
}
