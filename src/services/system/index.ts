export { createSystemMethods, type ServerInfo } from './system.methods.js';
