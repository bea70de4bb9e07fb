/**
 * Two hosts' Cluster objects over one in-memory store: what one host publishes (endpoints, DNS
 * records, its registration) reaches the other's overlay, zone and peer list, and a store that
 * stops answering leaves what was programmed in place.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { peerKey } from "../../../src/cluster/index.js";
import { Zone } from "../../../src/dns/index.js";
import { MemoryClusterStore } from "../../../src/store/index.js";
import { localEndpoint, publishNetwork, testCluster } from "../../helpers/cluster.js";

const CID = "00000000000000c1";

async function eventually(what: string, check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function member(name: string, advertiseAddr: string, store: MemoryClusterStore) {
  const zone = new Zone({ domain: "weave.local." });
  const createdAt = Date.now();
  return {
    name,
    zone,
    ...testCluster({ store, clusterId: CID, name, advertiseAddr, createdAt, dnsZone: zone }),
  };
}

void describe("Cluster (two hosts, in-memory store)", () => {
  const store = new MemoryClusterStore();
  const createdAt = Date.now();
  const a = member("a", "192.168.1.1", store);
  const b = member("b", "192.168.1.2", store);
  after(async () => {
    await a.cluster.close();
    await b.cluster.close();
  });

  void it("registers both hosts and programs each one's overlay with the other's endpoints", async () => {
    await publishNetwork(store, CID, { gateway: "10.32.0.1", createdAt });
    a.cluster.start();
    b.cluster.start();
    await eventually(
      "both registered",
      () => a.cluster.status().peers.filter((p) => p.state !== "gone").length === 2,
    );
    assert.ok(await store.get(peerKey("b")));

    const endpoint = localEndpoint("e", "10.32.0.2/24", Date.now());
    a.state.putEndpoint(endpoint);
    a.cluster.driverEvent({ kind: "endpoint-added", endpoint });
    await eventually("b has a's endpoint", () =>
      b.overlay.fdb.some((e) => e.mac === "02:42:0a:20:00:02" && e.dst === "192.168.1.1"),
    );
    assert.ok(b.overlay.links.has("vxw4096"));
    assert.ok(
      b.overlay.fdb.some((e) => e.mac === "00:00:00:00:00:00" && e.dst === "192.168.1.1"),
      "broadcast goes to a",
    );
    assert.ok(b.overlay.neigh.some((n) => n.ip === "10.32.0.2" && n.mac === "02:42:0a:20:00:02"));
    assert.equal(
      a.overlay.fdb.filter((e) => e.mac !== "00:00:00:00:00:00").length,
      0,
      "a has no remote endpoint",
    );
  });

  void it("replicates DNS records both ways and removes them when the owner goes", async () => {
    a.zone.set("c:abc", [{ name: "db.weave.local.", ipv4: ["10.32.0.2"] }]);
    await eventually("b answers for a's container", () => b.zone.get("r:a:c:abc") !== undefined);
    assert.deepEqual(b.zone.get("r:a:c:abc"), [{ name: "db.weave.local.", ipv4: ["10.32.0.2"], ipv6: [] }]);
    b.zone.set("m:ext.weave.local.", [{ name: "ext.weave.local.", ipv4: ["10.9.9.9"] }]);
    await eventually(
      "a has b's record added by hand",
      () => a.zone.get("r:b:m:ext.weave.local.") !== undefined,
    );
    a.zone.remove("c:abc");
    await eventually("b forgets it", () => b.zone.get("r:a:c:abc") === undefined);
  });

  void it("removing an endpoint removes its entries on the other host", async () => {
    const endpoint = a.state.getEndpoint("e".repeat(64));
    assert.ok(endpoint);
    a.state.deleteEndpoint(endpoint.id);
    a.cluster.driverEvent({ kind: "endpoint-removed", endpoint });
    await eventually(
      "b dropped the entries",
      () => !b.overlay.fdb.some((e) => e.mac === "02:42:0a:20:00:02"),
    );
    assert.ok(
      !b.overlay.fdb.some((e) => e.mac === "00:00:00:00:00:00"),
      "no flooding to a host without endpoints",
    );
  });
});
