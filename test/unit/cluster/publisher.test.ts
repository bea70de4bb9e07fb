/** LeasedPublisher: this host's keys under its lease, on stepped time over an in-memory store. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StoreHealth } from "../../../src/cluster/index.js";
import { LeasedPublisher } from "../../../src/cluster/publisher.js";
import { Session } from "../../../src/cluster/session.js";
import { FakeClock } from "../../../src/core/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";
import { captureLogger, FlakyStore } from "./kit.js";

const PREFIX = "weave/endpoints/a/";

function setup(memory?: MemoryClusterStore, clock = new FakeClock(1_000_000)) {
  const inner = memory ?? new MemoryClusterStore(() => clock.now());
  const store = new FlakyStore(inner);
  const log = captureLogger();
  const now = () => clock.now();
  const health = new StoreHealth(log.logger, now, "etcd://test");
  const state = openSqliteState(":memory:");
  const peer = { name: "a", address: "192.168.1.1", vxlanPort: 4789, version: "test", startedAt: 1 };
  const session = new Session({ store, health, state, logger: log.logger, now, clock, peer });
  const publisher = new LeasedPublisher({
    store,
    health,
    session,
    prefix: PREFIX,
    logger: log.logger,
    clock,
  });
  return { clock, memory: inner, store, log, session, publisher };
}

/** What the store holds under the prefix: key -> "value@lease". */
async function published(memory: MemoryClusterStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const kv of (await memory.list(PREFIX)).items)
    out[kv.key.slice(PREFIX.length)] = `${kv.value}@${kv.lease}`;
  return out;
}

const keys = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [PREFIX + k, v]));

/** Registers, then tries to publish x=1 once while the store is down. */
async function publishWhileDown(h: ReturnType<typeof setup>): Promise<void> {
  h.session.start();
  await h.clock.advance(0);
  h.store.down = true;
  h.publisher.replace(keys({ x: "1" }));
  await h.clock.settle();
}

void describe("LeasedPublisher", () => {
  void it("publishes nothing before the session has a lease, then everything under it", async () => {
    const h = setup();
    h.publisher.replace(keys({ x: "1", y: "2" }));
    await h.clock.settle();
    assert.deepEqual(await published(h.memory), {});
    assert.equal(h.publisher.inSync, false);
    h.session.start();
    await h.clock.advance(0);
    const lease = h.session.lease ?? "";
    assert.deepEqual(await published(h.memory), { x: `1@${lease}`, y: `2@${lease}` });
    assert.equal(h.publisher.inSync, true);
    await h.session.close();
  });

  void it("writes only the difference: changed keys rewritten, dropped keys deleted", async () => {
    const h = setup();
    h.session.start();
    h.publisher.replace(keys({ x: "1", y: "2", z: "3" }));
    await h.clock.advance(0);
    const before = h.store.calls.length;
    h.publisher.replace(keys({ x: "1", y: "22" }));
    await h.publisher.flush();
    assert.deepEqual(h.store.calls.slice(before), [`put ${PREFIX}y`, `delete ${PREFIX}z`]);
    const lease = h.session.lease ?? "";
    assert.deepEqual(await published(h.memory), { x: `1@${lease}`, y: `22@${lease}` });
    await h.session.close();
  });

  void it("coalesces replaces made during a write into one more round with the latest set", async () => {
    const h = setup();
    h.session.start();
    await h.clock.advance(0);
    h.publisher.replace(keys({ x: "1" }));
    h.publisher.replace(keys({ x: "2" }));
    h.publisher.replace(keys({ x: "3" }));
    await h.clock.settle();
    assert.equal(h.store.count("put"), 3, "the first set, then only the last one (peer record not counted)");
    assert.deepEqual(await published(h.memory), { x: `3@${h.session.lease ?? ""}` });
    await h.session.close();
  });

  void it("after a restart, deletes keys nobody wants any more and rewrites keys on an older lease", async () => {
    const clock = new FakeClock(1_000_000);
    const memory = new MemoryClusterStore(() => clock.now());
    const old = await memory.grantLease(15);
    await memory.put(PREFIX + "kept", "v", { lease: old });
    await memory.put(PREFIX + "stale", "v", { lease: old });
    const h = setup(memory, clock);
    h.publisher.replace(keys({ kept: "v" }));
    h.session.start();
    await clock.advance(0);
    const lease = h.session.lease ?? "";
    assert.notEqual(lease, old);
    assert.deepEqual(await published(memory), { kept: `v@${lease}` });
    await clock.advance(15_000);
    assert.deepEqual(await published(memory), { kept: `v@${lease}` }, "nothing left on the dead lease");
    await h.session.close();
  });

  void it("retries every second while the store fails, logging at debug level, until it has the keys", async () => {
    const h = setup();
    await publishWhileDown(h);
    assert.equal(h.store.count("put"), 2, "the peer record, then one try");
    await h.clock.advance(999);
    assert.equal(h.store.count("put"), 2);
    await h.clock.advance(1);
    assert.equal(h.store.count("put"), 3, "retried after a second");
    await h.clock.advance(2_000);
    assert.equal(h.store.count("put"), 5, "and every second, not faster or slower");
    assert.equal(h.publisher.inSync, false);
    const failures = h.log.lines.filter((l) => l.msg === "publishing to the cluster failed; retrying");
    assert.equal(failures.length, 4, "at 0, 1, 2 and 3 s");
    assert.deepEqual([failures[0]?.level, failures[0]?.["prefix"]], ["debug", PREFIX]);
    h.store.down = false;
    await h.clock.advance(1_000);
    assert.equal(h.publisher.inSync, true);
    assert.deepEqual(await published(h.memory), { x: `1@${h.session.lease ?? ""}` });
    const puts = h.store.count(`put ${PREFIX}`);
    await h.clock.advance(3_000);
    assert.equal(h.store.count(`put ${PREFIX}`), puts, "no retry once in sync");
    await h.session.close();
  });

  void it("publishes everything again under a new lease", async () => {
    const h = setup();
    h.session.start();
    h.publisher.replace(keys({ x: "1" }));
    await h.clock.advance(0);
    const old = h.session.lease ?? "";
    h.store.down = true;
    await h.clock.advance(20_000); // the lease expires meanwhile: the key goes with it
    h.store.down = false;
    await h.clock.advance(5_000);
    const renewed = h.session.lease ?? "";
    assert.notEqual(renewed, old);
    assert.deepEqual(await published(h.memory), { x: `1@${renewed}` });
    assert.equal(h.publisher.inSync, true);
    await h.session.close();
  });

  void it("does nothing once closed", async () => {
    const h = setup();
    await publishWhileDown(h);
    h.publisher.close();
    await h.session.close();
    h.store.down = false;
    h.publisher.replace(keys({ y: "1" }));
    await h.clock.advance(10_000);
    assert.deepEqual(await published(h.memory), {});
    assert.equal(h.clock.pending, 0, "no retry timer left");
  });
});
