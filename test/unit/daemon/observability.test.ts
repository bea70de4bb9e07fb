import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IpamLedger, parsePrefix } from "../../../src/ipam/index.js";
import { openSqliteState } from "../../../src/store/index.js";
import { daemonMetrics } from "../../../src/daemon/observability.js";

void describe("daemonMetrics", () => {
  void it("reads IPAM use, networks and endpoints from the state at each scrape", () => {
    const state = openSqliteState(":memory:");
    try {
      const ipam = new IpamLedger(
        state,
        {
          range: parsePrefix("10.32.0.0/12"),
          subnetBits: 24,
          rangeV6: parsePrefix("fd00:1::/48"),
          subnetBitsV6: 64,
          replayWindowMs: 60_000,
        },
        () => 0,
      );
      let reachable = false;
      const metrics = daemonMetrics({ state, dockerReachable: () => reachable });
      const req = { addressSpace: "LocalDefault", subPool: "", options: {} };
      const v4 = ipam.requestPool({ ...req, pool: "10.40.0.0/24", v6: false }, []);
      const v6 = ipam.requestPool({ ...req, pool: "fd00:1:2::/64", v6: true }, []);
      ipam.requestAddress({
        poolId: v4.poolId,
        address: "",
        options: { RequestAddressType: "com.docker.network.gateway" },
      });
      ipam.requestAddress({ poolId: v4.poolId, address: "", options: {} });
      ipam.requestAddress({ poolId: v6.poolId, address: "", options: {} });

      let text = metrics.registry.expose();
      assert.match(text, /^weave_ipam_pool_addresses\{pool="10\.40\.0\.0\/24"\} 2$/m);
      assert.match(text, /^weave_ipam_pool_size\{pool="10\.40\.0\.0\/24"\} 254$/m);
      assert.match(text, /^weave_ipam_pool_addresses\{pool="fd00:1:2::\/64"\} 1$/m);
      assert.match(text, /^weave_ipam_pool_size\{pool="fd00:1:2::\/64"\} 18446744073709552000$/m);
      assert.match(text, /^weave_networks 0$/m);
      assert.match(text, /^weave_peers\{state="up"\} 1$/m);
      assert.match(text, /^weave_docker_reachable 0$/m);

      reachable = true;
      ipam.releasePool(v6.poolId);
      text = metrics.registry.expose();
      assert.match(text, /^weave_docker_reachable 1$/m);
      assert.doesNotMatch(text, /fd00:1:2::/);
    } finally {
      state.close();
    }
  });
});
