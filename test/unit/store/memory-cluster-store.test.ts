import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryClusterStore, isWatchCompacted } from "../../../src/store/index.js";
import type { ClusterStore } from "../../../src/store/index.js";
import { clusterStoreContract } from "../../helpers/cluster-store-contract.js";

void describe("MemoryClusterStore", () => {
  const clock = { t: 0 };
  const store = new MemoryClusterStore(() => clock.t);
  clusterStoreContract(
    "memory",
    async () => store,
    async (s: ClusterStore) => {
      clock.t += 2_000;
      (s as MemoryClusterStore).expireLeases();
    },
    (s, revision) => (s as MemoryClusterStore).compact(revision),
  );
});

void describe("MemoryClusterStore compaction", () => {
  void it("refuses a future revision, as etcd does", async () => {
    const s = new MemoryClusterStore();
    const rev = await s.put("/k", "v");
    await assert.rejects(s.compact(rev + 1), /required revision is a future revision/);
    await s.compact(rev);
  });

  void it("reports a compacted watch later, not inside watch(), and not at all once it is closed", async () => {
    const s = new MemoryClusterStore();
    await s.put("/k", "1");
    const rev = await s.put("/k", "2");
    await s.compact(rev);
    const errors: Error[] = [];
    const events: string[] = [];
    s.watch(
      "/",
      1,
      (e) => events.push(e.key),
      (e) => errors.push(e),
    );
    s.watch(
      "/",
      1,
      (e) => events.push(e.key),
      (e) => errors.push(e),
    ).close();
    assert.equal(errors.length, 0, "not synchronously");
    await Promise.resolve();
    assert.equal(errors.length, 1);
    const err = errors[0];
    assert.ok(isWatchCompacted(err));
    assert.equal(err.compactRevision, rev);
    assert.deepEqual(events, [], "no replay of what is gone");
  });
});
