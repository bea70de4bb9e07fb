import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import type { JsonObject } from "../../../src/core/index.js";
import { Cluster, ENDPOINTS, LocalCluster } from "../../../src/cluster/index.js";
import type { Daemon } from "../../../src/daemon/index.js";
import { Reader } from "../../../src/plugin-api/index.js";
import { CLUSTER_ID_OPTION, clusterIdOf, MemoryClusterStore } from "../../../src/store/index.js";
import { composeWithFakes } from "../../helpers/compose-fakes.js";

const NET = "4f9d0c6e1b2a".padEnd(64, "a");
const EP = "7c3e9a1f5b6d".padEnd(64, "b");

/** One plugin call through the composed route table, as the server would make it. */
async function call(d: Daemon, path: string, body: JsonObject = {}): Promise<JsonObject> {
  const route = d.routes.get(path);
  assert.ok(route, `no route ${path}`);
  return (await route.handle(new Reader(path, body))) as JsonObject;
}

function text(o: JsonObject, key: string): string {
  const v = o[key];
  assert.equal(typeof v, "string", `${key} in ${JSON.stringify(o)}`);
  return v as string;
}

/** RequestPool, gateway, CreateNetwork, RequestAddress, CreateEndpoint: `docker network create` + `run`. */
async function networkWithEndpoint(d: Daemon, subnet = "10.40.0.0/24"): Promise<string> {
  const pool = await call(d, "/IpamDriver.RequestPool", { Pool: subnet });
  const poolId = text(pool, "PoolID");
  const gw = await call(d, "/IpamDriver.RequestAddress", {
    PoolID: poolId,
    Options: { RequestAddressType: "com.docker.network.gateway" },
  });
  await call(d, "/NetworkDriver.CreateNetwork", {
    NetworkID: NET,
    Options: { "com.docker.network.generic": {} },
    IPv4Data: [{ Pool: subnet, Gateway: text(gw, "Address") }],
    IPv6Data: [],
  });
  const ep = await call(d, "/IpamDriver.RequestAddress", { PoolID: poolId });
  await call(d, "/NetworkDriver.CreateEndpoint", {
    NetworkID: NET,
    EndpointID: EP,
    Interface: { Address: text(ep, "Address"), AddressIPv6: "", MacAddress: "" },
    Options: {},
  });
  return poolId;
}

void describe("composeDaemon", () => {
  void it("a host alone gets the local cluster port: the local IPAM, no status, no rmpeer", async () => {
    const { daemon } = composeWithFakes();
    assert.ok(daemon.cluster instanceof LocalCluster);
    assert.equal(daemon.cluster.ipam, daemon.ipam);
    assert.equal(daemon.cluster.status(), undefined);
    assert.equal(daemon.cluster.defaultNetworkBody(), undefined);
    await assert.rejects(daemon.cluster.removePeer("x"), (e) => isWeaveError(e, "WEAVE_UNSUPPORTED"));
    assert.equal(daemon.dns, undefined, "--no-dns");
    assert.equal(daemon.status, undefined, '--status-addr ""');
  });

  void it("plugin calls flow through the composed graph into the state and the kernel plan", async () => {
    const { daemon, adapters } = composeWithFakes();
    await networkWithEndpoint(daemon);
    assert.equal(adapters.state.getNetwork(NET)?.ipv4[0]?.Pool, "10.40.0.0/24");
    assert.equal(adapters.state.getEndpoint(EP)?.ipv4, "10.40.0.2/24");
    assert.ok(adapters.dataplane.commands.some((c) => c.includes("vwe7c3e9a1f5b")));
  });

  void it("the driver's events reach the cluster port", async () => {
    const { daemon } = composeWithFakes();
    const seen: string[] = [];
    daemon.cluster.driverEvent = (e) => void seen.push(e.kind);
    await networkWithEndpoint(daemon);
    await call(daemon, "/NetworkDriver.DeleteEndpoint", { NetworkID: NET, EndpointID: EP });
    await call(daemon, "/NetworkDriver.DeleteNetwork", { NetworkID: NET });
    assert.deepEqual(seen, ["network-created", "endpoint-added", "endpoint-removed", "network-removed"]);
  });

  void it("a host alone binds a network to the cluster ID its pool was reserved under", async () => {
    const { daemon, adapters } = composeWithFakes();
    const pool = await call(daemon, "/IpamDriver.RequestPool", {
      Pool: "10.41.0.0/24",
      Options: { [CLUSTER_ID_OPTION]: "0123456789abcdef" },
    });
    assert.equal(
      adapters.state.getPool(text(pool, "PoolID"))?.options[CLUSTER_ID_OPTION],
      "0123456789abcdef",
    );
    await call(daemon, "/NetworkDriver.CreateNetwork", {
      NetworkID: NET,
      Options: { "com.docker.network.generic": {} },
      IPv4Data: [{ Pool: "10.41.0.0/24" }],
      IPv6Data: [],
    });
    const network = adapters.state.getNetwork(NET);
    assert.ok(network);
    assert.equal(clusterIdOf(network), "0123456789abcdef");
  });

  void it("with a cluster store, a new endpoint is published under this host's lease", async () => {
    const store = new MemoryClusterStore();
    const { daemon } = composeWithFakes({ clusterStore: store, args: ["--name", "h1"] });
    assert.ok(daemon.cluster instanceof Cluster);
    assert.notEqual(daemon.cluster.ipam, daemon.ipam, "Docker's IPAM calls go to the cluster-wide IPAM");
    daemon.cluster.start();
    try {
      await networkWithEndpoint(daemon);
      const network = daemon.state.getNetwork(NET);
      const clusterId = network && clusterIdOf(network);
      assert.ok(clusterId, "the network is bound to a cluster ID");
      const key = `endpoints/h1/${clusterId}/${EP}`;
      const deadline = Date.now() + 5_000;
      let found = false;
      while (!found && Date.now() < deadline) {
        const { items } = await store.list(ENDPOINTS);
        found = items.some((kv) => kv.key.endsWith(key));
        if (!found) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(found, `${key} published`);
      assert.equal(daemon.cluster.status()?.name, "h1");
    } finally {
      await daemon.cluster.close();
    }
  });
});
