// Entry point of the API front door, used by etcd/main.ts.
export { startApiServer, type ApiServer, type ApiServerOptions } from './listener.js';
