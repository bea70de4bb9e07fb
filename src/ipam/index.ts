// The CIDR maths live in core (config and dns need them too); IPAM's callers find them here as well.
export type { Address, Family, Prefix } from "../core/index.js";
export {
  containsAddress,
  containsPrefix,
  familyWidth,
  formatAddress,
  formatPrefix,
  lastAddress,
  netmask,
  overlaps,
  parseAddress,
  parsePrefix,
  prefixSize,
  usableRange,
} from "../core/index.js";
export * from "./allocate.js";
export * from "./blocks.js";
export * from "./pool-limits.js";
export * from "./ipam-ledger.js";
export * from "./ipam-service.js";
