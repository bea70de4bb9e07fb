import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { blockKey, ClusterIpam, poolKey, StoreHealth, vniKey } from "../../../src/cluster/index.js";
import { sweep } from "../../../src/cluster/sweeper.js";
import type { ClusterView } from "../../../src/cluster/view.js";
import { silentLogger } from "../../../src/core/index.js";
import { IpamService } from "../../../src/ipam/index.js";
import type { ClusterStore, LocalState } from "../../../src/store/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";
import { holdableStore } from "../../helpers/held-store.js";
import { TEST_IPAM_CONFIG } from "../../helpers/ipam-config.js";

const CID = "00000000000000aa";
const GONE = "00000000000000bb";

/** This host's IPAM over `state` and `store`: the blocks' owner the sweep goes through. */
function clusterIpam(state: LocalState, store: ClusterStore, health: StoreHealth, now: () => number) {
  return new ClusterIpam({
    ipam: new IpamService(state, TEST_IPAM_CONFIG, now),
    state,
    store,
    health,
    host: "a",
    now,
    logger: silentLogger,
    sharedAddresses: () => new Set(),
    isPublished: () => true,
    newId: () => CID,
  });
}

void describe("cluster sweep", () => {
  void it("reconciles this host's blocks with the store and deletes what belongs to nothing", async () => {
    const store = new MemoryClusterStore();
    const state = openSqliteState(":memory:");
    const now = () => 1_000_000;
    state.putPool({
      id: "LocalDefault/10.50.0.0/24",
      family: 4,
      pool: "10.50.0.0/24",
      subPool: null,
      addressSpace: "LocalDefault",
      options: { "weave.cluster.id": CID },
      replayPending: false,
      createdAt: 0,
    });
    const claim = (host: string) => JSON.stringify({ host, createdAt: 0 });
    await store.put(poolKey("10.50.0.0/24"), JSON.stringify({ clusterId: CID, host: "a", createdAt: 0 }));
    await store.put(blockKey(CID, "10.50.0.0/28"), claim("a")); // ours in the store, lost locally
    await store.put(blockKey(CID, "10.50.0.16/28"), claim("b")); // another host's, held locally too
    await store.put(blockKey(GONE, "10.60.0.0/28"), claim("b")); // a network that is gone
    await store.put(vniKey(4096), CID); // in use
    await store.put(vniKey(4097), GONE); // left by a publication that failed
    state.putBlock({ clusterId: CID, block: "10.50.0.16/28", createdAt: 0 });
    state.putBlock({ clusterId: CID, block: "10.50.0.32/28", createdAt: 0 }); // removed by rmpeer: free
    state.putBlock({ clusterId: GONE, block: "10.60.0.16/28", createdAt: 0 }); // no local pool any more
    const view = {
      synced: true,
      pools: () => [{ clusterId: CID, host: "a", createdAt: 0, pool: "10.50.0.0/24" }],
      networks: () => [],
    } as unknown as ClusterView;
    const health = new StoreHealth(silentLogger, now, "etcd://test");
    const blocks = clusterIpam(state, store, health, now);
    await sweep({ store, health, state, view, blocks, host: "a", now, logger: silentLogger });

    assert.deepEqual(
      state.listBlocks().map((b) => `${b.clusterId} ${b.block}`),
      [`${CID} 10.50.0.0/28`, `${CID} 10.50.0.32/28`],
    );
    const keys = (await store.list("/weave/v1/blocks/")).items.map((kv) => kv.key).sort();
    assert.deepEqual(keys, [
      blockKey(CID, "10.50.0.0/28"),
      blockKey(CID, "10.50.0.16/28"),
      blockKey(CID, "10.50.0.32/28"),
    ]);
    const reclaimed = JSON.parse((await store.get(blockKey(CID, "10.50.0.32/28")))?.value ?? "{}") as {
      host?: string;
    };
    assert.equal(reclaimed.host, "a");
    assert.deepEqual(
      (await store.list("/weave/v1/vnis/")).items.map((kv) => kv.key),
      [vniKey(4096)],
    );
  });

  /**
   * Host "a" with a cluster network (10.50.0.0/24, published) over a store whose calls the test
   * can hold; `sweepNow` runs one sweep.
   */
  async function oneHost() {
    const inner = new MemoryClusterStore();
    const { store, hold } = holdableStore(inner);
    const state = openSqliteState(":memory:");
    const now = () => 1_000_000;
    const health = new StoreHealth(silentLogger, now, "etcd://test");
    const ipam = clusterIpam(state, store, health, now);
    const { poolId } = await ipam.requestPool(
      { addressSpace: "LocalDefault", pool: "10.50.0.0/24", subPool: "", options: {}, v6: false },
      async () => [],
    );
    const view = {
      synced: true,
      pools: () => [{ clusterId: CID, host: "a", createdAt: 0, pool: "10.50.0.0/24" }],
      networks: () => [{ clusterId: CID }],
    } as unknown as ClusterView;
    const sweepNow = () =>
      sweep({ store, health, state, view, blocks: ipam, host: "a", now, logger: silentLogger });
    const request = () => ipam.requestAddress({ poolId, address: "", options: {} });
    const blocks = () => state.listBlocks(CID).map((b) => b.block);
    return { inner, hold, state, sweepNow, request, blocks };
  }

  void it("a sweep started while an address request waits on the store leaves the block it claims", async () => {
    const h = await oneHost();
    // The request claims this host's first block; its claim is on its way to the store.
    const claim = h.hold("create", blockKey(CID, "10.50.0.0/28"), "before");
    const request = h.request();
    await claim.reached;
    const sweeping = h.sweepNow(); // lists the store before the claim lands there
    claim.release();
    assert.equal((await request).address, "10.50.0.1/24");
    await sweeping;
    assert.deepEqual(h.blocks(), ["10.50.0.0/28"], "the block is still this host's");
    assert.equal((await h.request()).address, "10.50.0.2/24", "and the next address comes from it");
  });

  void it("an address request waits for the sweep's changes to the blocks", async () => {
    const h = await oneHost();
    assert.equal((await h.request()).address, "10.50.0.1/24");
    // `weave rmpeer a` freed the block while this host was believed gone.
    await h.inner.delete(blockKey(CID, "10.50.0.0/28"));
    const reclaim = h.hold("create", blockKey(CID, "10.50.0.0/28"), "before");
    const sweeping = h.sweepNow();
    await reclaim.reached;
    // Host b takes the block before this host's claim arrives; a container starts here meanwhile.
    await h.inner.put(blockKey(CID, "10.50.0.0/28"), JSON.stringify({ host: "b", createdAt: 0 }));
    const request = h.request();
    reclaim.release();
    await sweeping;
    assert.equal((await request).address, "10.50.0.16/24", "not in the block the sweep dropped");
    assert.deepEqual(h.blocks(), ["10.50.0.16/28"]);
  });
});
