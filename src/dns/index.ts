/** weaveDNS: zone data, wire codec, the pure responder, the forwarder and the server. */
export * from "./codec.js";
export * from "./encoder.js";
export * from "./ip.js";
export * from "./zone.js";
export * from "./responder.js";
export * from "./resolv-conf.js";
export * from "./upstream.js";
export * from "./server.js";
export type { WorkerConfig } from "./workers.js";
