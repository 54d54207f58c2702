export * from "./free-port.js";
export * from "./redis-server.js";
export * from "./s3-server.js";
export * from "./tcp-proxy.js";
