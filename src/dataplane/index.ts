export * from "./types.js";
export * from "./planner.js";
export { validateBridgeSpec, validateVethSpec } from "./spec-checks.js";
export * from "./nft-rules.js";
export * from "./iptables-compat.js";
export { IprouteDataplane, parseIpAddrJson, parseRoutesJson, randomMac } from "./iproute-dataplane.js";
export type { IprouteOptions } from "./iproute-adapter.js";
export { KEPT_LINES, KeptBatches, spawnedBatches } from "./batch-runner.js";
export type { BatchRunner, BatchTool, KeptBatchesOptions } from "./batch-runner.js";
export { FakeDataplane } from "./fake-dataplane.js";
export type { FakeLink } from "./fake-dataplane.js";
export * from "./overlay-types.js";
export * from "./overlay-planner.js";
export {
  IprouteOverlay,
  overlayScope,
  parseFdbJson,
  parseNeighJson,
  parseVxlanLinksJson,
} from "./iproute-overlay.js";
export { FakeOverlay, OVERLAY_READS } from "./fake-overlay.js";
export { BATCH_LINES, CachedState, chunkOps, converge } from "./cached-state.js";
export type { ConvergeSteps } from "./cached-state.js";
export { foldOverlayOps } from "./overlay-state.js";
export { foldRoutedOps } from "./routed-state.js";
export { gcThreshKeys, NeighLimits, neighCounts, raisedNeighLimits } from "./neigh-limits.js";
export type { GcThresholds, NeighCounts, NeighFamily } from "./neigh-limits.js";
export { ExecSysctl, FakeSysctl } from "./sysctl.js";
export type { SysctlPort } from "./sysctl.js";
export * from "./routed-types.js";
export * from "./routed-planner.js";
export {
  IprouteRouted,
  parseProxyJson,
  parseRoutedRoutesJson,
  parseSysctlOutput,
  routedScope,
} from "./iproute-routed.js";
export { FakeRouted, ROUTED_READS } from "./fake-routed.js";
export * from "./wireguard-types.js";
export * from "./wireguard-config.js";
export * from "./wireguard-planner.js";
export { parseDeviceAddressesJson, parseWireguardLinksJson, WireguardDevice } from "./wireguard-device.js";
export type { WireguardDeviceOptions } from "./wireguard-device.js";
export { FakeProcessTable, procProcessTable } from "./process-table.js";
export type { ProcessTable } from "./process-table.js";
export { FakeWireguard } from "./fake-wireguard.js";
export type { FakeWireguardDevice } from "./fake-wireguard.js";
