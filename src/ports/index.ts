export * from "./types.js";
export * from "./parse.js";
export * from "./pick.js";
export * from "./nft-ports.js";
export * from "./reserver.js";
export * from "./port-dataplane.js";
export { PortPublisher } from "./publisher.js";
export type { PortPublisherDeps } from "./publisher.js";
