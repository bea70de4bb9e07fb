export * from "./types.js";
export * from "./planner.js";
export * from "./nft-rules.js";
export * from "./iptables-compat.js";
export { IprouteDataplane, parseIpAddrJson, parseRoutesJson, randomMac } from "./iproute-dataplane.js";
export type { IprouteDataplaneOptions } from "./iproute-dataplane.js";
export { FakeDataplane } from "./fake-dataplane.js";
export type { FakeLink } from "./fake-dataplane.js";
