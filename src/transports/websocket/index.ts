export { WsGateway, WsSession, CloseCode, type WsGatewayOptions } from './ws-gateway.js';
