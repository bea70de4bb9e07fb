import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { blockKey, poolKey, StoreHealth, vniKey } from "../../../src/cluster/index.js";
import { sweep } from "../../../src/cluster/sweeper.js";
import type { ClusterView } from "../../../src/cluster/view.js";
import { silentLogger } from "../../../src/core/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";

const CID = "00000000000000aa";
const GONE = "00000000000000bb";

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
    await sweep({ store, health, state, view, host: "a", now, logger: silentLogger });

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
});
