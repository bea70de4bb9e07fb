/** The IPAM settings of the daemon's defaults, with a fixed IPv6 range, for tests. */
import type { IpamConfig } from "../../src/ipam/index.js";
import { parsePrefix } from "../../src/ipam/index.js";

export const TEST_IPAM_CONFIG: IpamConfig = {
  range: parsePrefix("10.32.0.0/12"),
  subnetBits: 24,
  rangeV6: parsePrefix("fd12:3456:789a::/48"),
  subnetBitsV6: 64,
  replayWindowMs: 60_000,
};
