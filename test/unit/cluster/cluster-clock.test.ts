/**
 * A Cluster given a FakeClock runs every loop on it: registration, mirrors, overlay, publishers, the
 * 10 s tick and the network passes all progress on stepped time alone, and close leaves no timer.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { endpointKey } from "../../../src/cluster/index.js";
import { FakeClock } from "../../../src/core/index.js";
import { MemoryClusterStore } from "../../../src/store/index.js";
import { localEndpoint, publishNetwork, testCluster } from "../../helpers/cluster.js";

const CID = "00000000000000c1";

async function setup() {
  const clock = new FakeClock(1_000_000);
  const now = () => clock.now();
  const store = new MemoryClusterStore(now);
  await publishNetwork(store, CID);
  const { state, overlay, cluster } = testCluster({ store, clusterId: CID, now, clock });
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

    const endpoint = localEndpoint("e", "10.32.0.2/24");
    h.state.putEndpoint(endpoint);
    // Nobody calls endpointsChanged(): the periodic tick (10 s after start) publishes it.
    await h.clock.advance(9_800);
    assert.equal(await h.store.get(endpointKey("a", CID, endpoint.id)), undefined);
    await h.clock.advance(100);
    assert.ok(await h.store.get(endpointKey("a", CID, endpoint.id)));

    await h.cluster.close();
    assert.equal(h.clock.pending, 0, "no timer left");
  });
});
