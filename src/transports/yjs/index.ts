export { YjsGateway, YjsClose, YMessage, closeCodeOf, decodeFrame, roomPath, type YjsGatewayOptions } from './yjs-gateway.js';
