export { createHttpServer, type HttpServerOptions } from './http-server.js';
export { httpContextsOf } from './call-context.js';
export { buildOpenApi, type ExtraPaths } from './openapi.js';
export { renderDocsPage } from './docs-page.js';
export { openSseStream } from './sse.js';
