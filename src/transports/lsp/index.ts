export { LspGateway, LspClose, languageOf, type LspGatewayOptions } from './lsp-gateway.js';
