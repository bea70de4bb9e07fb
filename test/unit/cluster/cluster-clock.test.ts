/**
 * A Cluster given a FakeClock runs every loop on it: registration, mirrors, overlay, publishers, the
 * 10 s tick and the network passes all progress on stepped time alone, and close leaves no timer.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Cluster, endpointKey, networkKey, poolKey, vniKey } from "../../../src/cluster/index.js";
import { FakeClock, silentLogger } from "../../../src/core/index.js";
import { fakeTransports } from "../../helpers/transport-fakes.js";
import { FakeDocker } from "../../../src/docker/index.js";
import { IpamService, parsePrefix } from "../../../src/ipam/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";
import { clusterNetwork, localNetwork } from "./kit.js";

const CID = "00000000000000c1";

async function setup() {
  const clock = new FakeClock(1_000_000);
  const now = () => clock.now();
  const store = new MemoryClusterStore(now);
  await store.put(poolKey("10.32.0.0/24"), JSON.stringify({ clusterId: CID, host: "a", createdAt: 0 }));
  await store.put(vniKey(4096), CID);
  await store.put(networkKey("weave"), JSON.stringify(clusterNetwork(CID, 4096)));
  const state = openSqliteState(":memory:");
  state.putNetwork(localNetwork("net-a", CID));
  const range = { range: parsePrefix("10.32.0.0/12"), subnetBits: 24, rangeV6: parsePrefix("fd00::/48") };
  const ipam = new IpamService(state, { ...range, subnetBitsV6: 64, replayWindowMs: 1_000 }, now);
  const { overlay, transports, transport, containerMtu } = fakeTransports();
  const cluster = new Cluster({
    store,
    storeUrl: "etcd://test",
    state,
    docker: new FakeDocker(),
    ipam,
    transports,
    transport,
    containerMtu,
    logger: silentLogger,
    now,
    clock,
    name: "a",
    advertiseAddr: "192.168.1.1",
    vxlanPort: 4789,
    driverName: "weave",
    defaultNetwork: "",
  });
  return { clock, store, state, overlay, cluster };
}

void describe("Cluster on a FakeClock", () => {
  void it("registers, programs the overlay and republishes endpoints at its 10 s tick, on stepped time only", async () => {
    const h = await setup();
    h.cluster.start();
    await new Promise((r) => setTimeout(r, 20)); // real time passes, fake time does not: nothing due runs
    assert.equal(h.cluster.status().registered, false);
    assert.equal(h.overlay.links.size, 0);
    await h.clock.advance(100);
    assert.equal(h.cluster.status().registered, true);
    assert.ok(h.overlay.links.has("vxw4096"));

    const id = "e".repeat(64);
    h.state.putEndpoint({
      id,
      networkId: "net-a",
      hostIf: "vweeeeeeeeeee",
      peerIf: "vwpeeeeeeeeee",
      mac: "02:42:0a:20:00:02",
      ipv4: "10.32.0.2/24",
      ipv6: null,
      sandboxKey: null,
      createdAt: 0,
    });
    // Nobody calls endpointsChanged(): the periodic tick (10 s after start) publishes it.
    await h.clock.advance(9_800);
    assert.equal(await h.store.get(endpointKey("a", CID, id)), undefined);
    await h.clock.advance(100);
    assert.ok(await h.store.get(endpointKey("a", CID, id)));

    await h.cluster.close();
    assert.equal(h.clock.pending, 0, "no timer left");
  });
});
