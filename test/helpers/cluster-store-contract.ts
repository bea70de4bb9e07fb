/** The behaviour every ClusterStore must have; run against the memory fake and a real etcd. */
import assert from "node:assert/strict";
import { it } from "node:test";
import type { ClusterStore, WatchEvent } from "../../src/store/index.js";
import { isWatchCompacted } from "../../src/store/index.js";

/**
 * `compact` drops the store's history before a revision (not part of the port: stores compact by
 * themselves); without it there is no compaction case.
 */
export function clusterStoreContract(
  name: string,
  make: () => Promise<ClusterStore>,
  waitForExpiry: (s: ClusterStore) => Promise<void>,
  compact?: (s: ClusterStore, revision: number) => Promise<void>,
): void {
  let n = 0;
  const prefix = () => `/weave-test/${name}/${process.pid}-${Date.now()}-${n++}/`;

  void it(`${name}: put, get, list by prefix in key order, delete`, async () => {
    const s = await make();
    const p = prefix();
    await s.put(`${p}b`, "2");
    const rev = await s.put(`${p}a`, "1");
    await s.put(`${p.slice(0, -1)}x`, "not under the prefix");
    assert.equal((await s.get(`${p}a`))?.value, "1");
    assert.equal((await s.get(`${p}a`))?.modRevision, rev);
    const listed = await s.list(p);
    assert.deepEqual(
      listed.items.map((kv) => [kv.key, kv.value]),
      [
        [`${p}a`, "1"],
        [`${p}b`, "2"],
      ],
    );
    assert.ok(listed.revision >= rev);
    assert.equal(await s.delete(`${p}a`), true);
    assert.equal(await s.delete(`${p}a`), false);
    assert.equal(await s.get(`${p}a`), undefined);
    await s.close();
  });

  void it(`${name}: create only when absent; compare-and-swap and delete on the mod revision`, async () => {
    const s = await make();
    const k = `${prefix()}block`;
    assert.equal(await s.create(k, "host1"), true);
    assert.equal(await s.create(k, "host2"), false, "second creator loses");
    const kv = await s.get(k);
    assert.equal(kv?.value, "host1");
    assert.equal(await s.compareAndSwap(k, kv?.modRevision ?? 0, "host3"), true);
    assert.equal(await s.compareAndSwap(k, kv?.modRevision ?? 0, "host4"), false, "stale revision loses");
    const now = await s.get(k);
    assert.equal(now?.value, "host3");
    assert.equal(await s.compareAndDelete(k, kv?.modRevision ?? 0), false);
    assert.equal(await s.compareAndDelete(k, now?.modRevision ?? 0), true);
    await s.close();
  });

  void it(`${name}: racing creators: exactly one wins`, async () => {
    const s = await make();
    const k = `${prefix()}race`;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.create(k, `h${i}`)));
    assert.equal(results.filter(Boolean).length, 1);
    await s.close();
  });

  void it(`${name}: keys under a lease go when it is revoked or expires; keepAlive renews`, async () => {
    const s = await make();
    const p = prefix();
    const lease = await s.grantLease(60);
    await s.put(`${p}peer`, "up", { lease });
    assert.equal((await s.get(`${p}peer`))?.lease, lease);
    assert.equal(await s.keepAlive(lease), 60);
    await s.revokeLease(lease);
    assert.equal(await s.get(`${p}peer`), undefined);
    assert.equal(await s.keepAlive(lease), 0, "a revoked lease is gone");
    const short = await s.grantLease(1);
    await s.put(`${p}short`, "x", { lease: short });
    await waitForExpiry(s);
    assert.equal(await s.get(`${p}short`), undefined, "expired with its lease");
    await s.close();
  });

  void it(`${name}: watch replays from a revision and follows puts and deletes in order`, async () => {
    const s = await make();
    const p = prefix();
    const first = await s.put(`${p}a`, "1");
    const events: WatchEvent[] = [];
    const errors: Error[] = [];
    const w = s.watch(
      p,
      first,
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    await new Promise((r) => setTimeout(r, 200));
    await s.put(`${p}b`, "2");
    await s.delete(`${p}a`);
    await s.put(`${p.slice(0, -1)}zzz`, "outside");
    for (let i = 0; i < 50 && events.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    w.close();
    assert.deepEqual(
      events.map((e) => [e.type, e.key, e.value]),
      [
        ["put", `${p}a`, "1"],
        ["put", `${p}b`, "2"],
        ["delete", `${p}a`, ""],
      ],
    );
    assert.deepEqual(errors, []);
    await s.close();
  });

  if (!compact) return;
  void it(`${name}: a watch from before the compaction revision ends with WatchCompacted; from it, replays`, async () => {
    const s = await make();
    const p = prefix();
    const r1 = await s.put(`${p}a`, "1");
    await s.put(`${p}b`, "2");
    const r3 = await s.put(`${p}c`, "3");
    await compact(s, r3);
    await assert.rejects(compact(s, r3), /required revision has been compacted/);
    const errors: Error[] = [];
    const events: WatchEvent[] = [];
    const old = s.watch(
      p,
      r1,
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    const from = s.watch(
      p,
      r3,
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    for (let i = 0; i < 100 && (errors.length < 1 || events.length < 1); i++)
      await new Promise((r) => setTimeout(r, 20));
    old.close();
    from.close();
    assert.equal(errors.length, 1, errors.join("; "));
    const err = errors[0];
    assert.ok(isWatchCompacted(err), `expected WatchCompacted, got ${String(err)}`);
    assert.equal(err.code, "WEAVE_STATE");
    assert.deepEqual([err.prefix, err.fromRevision, err.compactRevision], [p, r1, r3]);
    assert.deepEqual(
      events.map((e) => [e.key, e.value]),
      [[`${p}c`, "3"]],
      "the watch from the compaction revision replays from there",
    );
    assert.deepEqual(
      (await s.list(p)).items.map((kv) => kv.value),
      ["1", "2", "3"],
      "keys stay",
    );
    await s.close();
  });
}
