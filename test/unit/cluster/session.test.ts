/** This host's lease and registration, on stepped time over an in-memory store. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePeer, peerKey, StoreHealth } from "../../../src/cluster/index.js";
import { Session } from "../../../src/cluster/session.js";
import { FakeClock } from "../../../src/core/index.js";
import type { LocalState } from "../../../src/store/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";
import { captureLogger, FlakyStore } from "./kit.js";

const PEER = { name: "a", address: "192.168.1.1", vxlanPort: 4789, version: "test", startedAt: 1 };

function setup(o: { state?: LocalState; clock?: FakeClock; memory?: MemoryClusterStore } = {}) {
  const clock = o.clock ?? new FakeClock(1_000_000);
  const memory = o.memory ?? new MemoryClusterStore(() => clock.now());
  const store = new FlakyStore(memory);
  const log = captureLogger();
  const state = o.state ?? openSqliteState(":memory:");
  const now = () => clock.now();
  const health = new StoreHealth(log.logger, now, "etcd://test");
  const session = new Session({ store, health, state, logger: log.logger, now, clock, peer: PEER });
  const leases: string[] = [];
  session.onLease((l) => leases.push(l));
  return { clock, memory, store, log, state, health, session, leases };
}

async function peerRecord(memory: MemoryClusterStore, name = "a") {
  const kv = await memory.get(peerKey(name));
  return kv && { lease: kv.lease, record: parsePeer(kv.value) };
}

void describe("Session", () => {
  void it("takes a lease, registers under it, keeps it in the state and announces it once", async () => {
    const h = setup();
    h.session.start();
    assert.equal(h.session.lease, undefined, "nothing before the first timer");
    await h.clock.advance(0);
    const lease = h.session.lease;
    assert.ok(lease);
    assert.deepEqual(h.leases, [lease]);
    assert.equal(h.state.getMeta("cluster_lease"), lease);
    const peer = await peerRecord(h.memory);
    assert.equal(peer?.lease, lease);
    assert.deepEqual(peer?.record, { ...PEER, seenAt: 1_000_000 });
    assert.deepEqual(h.log.messages("info"), ["cluster store reachable", "registered in the cluster"]);
    assert.equal(h.health.reachable, true);
    await h.session.close();
  });

  void it("renews every renewMs after the last renewal, so the lease outlives its TTL, without rewriting an unchanged record", async () => {
    const h = setup();
    h.session.start();
    await h.clock.advance(0);
    const lease = h.session.lease ?? "";
    await h.clock.advance(4_999);
    assert.equal(h.store.count("keepAlive"), 0);
    await h.clock.advance(1);
    assert.equal(h.store.count("keepAlive"), 1, "first renewal 5 s after the registration");
    await h.clock.advance(60_000);
    assert.equal(h.store.count("keepAlive"), 13);
    assert.equal(h.session.lease, lease, "the same lease, a minute later (TTL 15 s)");
    const record = await peerRecord(h.memory);
    assert.equal(record?.record?.seenAt, 1_000_000, "written once, at the registration");
    assert.equal(h.store.count("put"), 1, "renewals only renew the lease: no write reaches the watches");
    await h.session.updatePeer({ ...PEER, version: "9.9.9" });
    assert.equal(h.store.count("put"), 2, "a changed record is written at once");
    assert.equal((await peerRecord(h.memory))?.record?.version, "9.9.9");
    await h.clock.advance(10_000);
    assert.equal(h.store.count("put"), 2);
    assert.deepEqual(h.leases, [lease], "announced once");
    await h.session.close();
  });

  void it("a restarted daemon goes on with the lease kept in its state while that lease lives", async () => {
    const clock = new FakeClock(1_000_000);
    const memory = new MemoryClusterStore(() => clock.now());
    const state = openSqliteState(":memory:");
    const first = setup({ clock, memory, state });
    first.session.start();
    await clock.advance(0);
    const lease = first.session.lease ?? "";
    await first.session.close();
    await clock.advance(10_000); // a restart shorter than the TTL
    const second = setup({ clock, memory, state });
    second.session.start();
    await clock.advance(0);
    assert.equal(second.session.lease, lease);
    assert.deepEqual(second.leases, [lease], "announced to the new process's publishers");
    assert.equal(second.store.count("grantLease"), 0);
    await second.session.close();

    await clock.advance(20_000); // this time longer than the TTL: the kept lease is gone
    const third = setup({ clock, memory, state });
    third.session.start();
    await clock.advance(0);
    assert.ok(third.session.lease && third.session.lease !== lease);
    assert.equal(state.getMeta("cluster_lease"), third.session.lease);
    await third.session.close();
  });

  void it("its own record under its own lease is no conflict, even with another address (a restart with a new one)", async () => {
    const clock = new FakeClock(1_000_000);
    const memory = new MemoryClusterStore(() => clock.now());
    const state = openSqliteState(":memory:");
    const lease = await memory.grantLease(15);
    state.putMeta("cluster_lease", lease);
    await memory.put(peerKey("a"), JSON.stringify({ ...PEER, address: "10.0.0.1", seenAt: 1 }), { lease });
    const h = setup({ clock, memory, state });
    h.session.start();
    await clock.advance(0);
    assert.equal(h.session.conflict, "");
    assert.deepEqual(h.leases, [lease]);
    assert.equal((await peerRecord(memory))?.record?.address, PEER.address);
    await h.session.close();
  });

  void it("when the lease expired while the store was unreachable, registers again under a new one", async () => {
    const h = setup();
    h.session.start();
    await h.clock.advance(0);
    const old = h.session.lease ?? "";
    h.store.down = true;
    await h.clock.advance(20_000);
    assert.equal(h.health.reachable, false);
    assert.ok(h.log.messages("debug").includes("cluster registration failed; retrying"));
    assert.ok(
      h.log.messages("warning").includes("cluster store unreachable; running on the last known state"),
    );
    assert.equal(h.session.lease, old, "kept while the store cannot say");
    h.store.down = false;
    await h.clock.advance(5_000);
    const renewed = h.session.lease ?? "";
    assert.notEqual(renewed, old);
    assert.ok(h.log.messages("warning").includes("this host's cluster lease expired; registering again"));
    assert.deepEqual(h.leases, [old, renewed], "publishers hear of the new lease");
    assert.equal((await peerRecord(h.memory))?.lease, renewed);
    assert.equal(h.state.getMeta("cluster_lease"), renewed);
    await h.session.close();
  });

  void it("stays out while another live host holds its name, and joins once that host is gone", async () => {
    const clock = new FakeClock(1_000_000);
    const memory = new MemoryClusterStore(() => clock.now());
    const other = await memory.grantLease(15);
    await memory.put(peerKey("a"), JSON.stringify({ ...PEER, address: "192.168.9.9", seenAt: 1 }), {
      lease: other,
    });
    const h = setup({ clock, memory });
    h.session.start();
    await clock.advance(10_000);
    assert.match(h.session.conflict, /Another host \(192\.168\.9\.9\) is registered as "a"/);
    assert.deepEqual(h.leases, [], "not announced: nothing is published under this name");
    assert.equal((await peerRecord(memory))?.record?.address, "192.168.9.9", "the other's record stays");
    assert.deepEqual(
      h.log.lines.filter((l) => l.level === "error").map((l) => l.msg),
      ["cannot join the cluster"],
      "logged once, not at every renewal",
    );
    await clock.advance(10_000); // the other host's lease expires
    assert.equal(h.session.conflict, "");
    assert.deepEqual(h.leases, [h.session.lease]);
    assert.equal((await peerRecord(memory))?.record?.address, PEER.address);
    await h.session.close();
  });

  void it("renewNow renews at once; close stops renewing and leaves the lease to expire", async () => {
    const h = setup();
    h.session.start();
    await h.clock.advance(0);
    await h.session.renewNow();
    assert.equal(h.store.count("keepAlive"), 1);
    await h.session.close();
    assert.equal(h.clock.pending, 0, "no timer left");
    await h.clock.advance(14_000);
    assert.equal(h.store.count("keepAlive"), 1);
    assert.ok(await peerRecord(h.memory), "still registered within the TTL");
    await h.clock.advance(1_000);
    assert.equal(await peerRecord(h.memory), undefined, "gone with the lease");
  });
});
