export * from "./cidr.js";
export * from "./allocate.js";
export * from "./blocks.js";
export * from "./pool-limits.js";
export * from "./ipam-ledger.js";
export * from "./ipam-service.js";
