export { ERROR_TABLE, IcpyError, toWireError, httpStatusOf, isErrorCode, errorCodeFromRpc } from './errors.js';
export type { ErrorCode, WireError } from './errors.js';
export { DisposableStore, toDisposable, type Disposable } from './lifecycle.js';
export {
  createTokenVerifier,
  generateToken,
  hostAllowed,
  hostnameOf,
  isLoopbackHost,
  originAllowed,
  redactToken,
  bearerToken,
} from './security.js';
export { silentLogger, describeError, type Logger } from './logger.js';
export { ByteBudget, type BudgetLease, type ByteBudgetOptions } from './byte-budget.js';
