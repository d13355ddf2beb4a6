export {
  CredentialService,
  DEFAULT_MAX_CREDENTIALS,
  TOKEN_PREFIX,
  type CredentialStore,
  type StoredCredentialRow,
  type CredentialSummary,
  type CreatedCredential,
  type CredentialEnd,
  type CredentialServiceOptions,
} from './credential-service.js';
export { parseExpiresIn, MAX_EXPIRES_IN_MS } from './expires-in.js';
export { createAuthMethods, credentialSummarySchema } from './auth.methods.js';
export { authEvents } from './auth.events.js';
