export { startToxiproxyServer, TOXIPROXY_VERSION, type ToxiproxyServer, type ToxiproxyServerOptions } from './server.js';
export { TOXIC_ATTRIBUTES, type ToxicType, type StreamDirection, type ToxicSpec, type ToxicJson } from './toxics.js';
export { runToxiproxyMain } from './main.js';
