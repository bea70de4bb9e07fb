/** PrefixMirror: a local copy of one prefix, kept by a watch, on stepped time over an in-memory store. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PrefixMirror } from "../../../src/cluster/mirror.js";
import { FakeClock } from "../../../src/core/index.js";
import { MemoryClusterStore } from "../../../src/store/index.js";
import { captureLogger, FlakyStore } from "./kit.js";

const PREFIX = "weave/peers/";

function setup() {
  const clock = new FakeClock(1_000_000);
  const memory = new MemoryClusterStore(() => clock.now());
  const store = new FlakyStore(memory);
  const log = captureLogger();
  const health: string[] = [];
  let changes = 0;
  const mirror = new PrefixMirror({
    store,
    prefix: PREFIX,
    logger: log.logger,
    clock,
    onChange: () => changes++,
    onHealth: (ok, error) => health.push(ok ? "ok" : `failed: ${error ?? ""}`),
  });
  return { clock, memory, store, log, health, mirror, changes: () => changes };
}

const content = (m: PrefixMirror) => Object.fromEntries([...m.entries()].map((kv) => [kv.key, kv.value]));

void describe("PrefixMirror", () => {
  void it("lists the prefix, then follows its changes by a watch", async () => {
    const h = setup();
    await h.memory.put(PREFIX + "a", "1");
    await h.memory.put("weave/other/x", "no");
    assert.equal(h.mirror.synced, false);
    h.mirror.start();
    await h.clock.settle();
    assert.equal(h.mirror.synced, true);
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "1" });
    assert.deepEqual(h.health, ["ok"]);
    assert.equal(h.changes(), 1);
    await h.memory.put(PREFIX + "b", "2");
    await h.memory.put(PREFIX + "a", "11");
    await h.memory.delete(PREFIX + "b");
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "11" });
    assert.equal(h.mirror.get(PREFIX + "a")?.value, "11");
    assert.equal(h.mirror.size, 1);
    assert.equal(h.changes(), 4, "one call per event");
    h.mirror.close();
  });

  void it("retries a failed listing after 0.5 s, doubling to 5 s, and starts from 0.5 s again after a success", async () => {
    const h = setup();
    h.store.down = true;
    h.mirror.start();
    await h.clock.settle();
    assert.equal(h.mirror.synced, false);
    assert.deepEqual(h.health, ["failed: Cannot reach the store (list weave/peers/)"]);
    const lists: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = h.store.count("list");
      const start = h.clock.now();
      while (h.store.count("list") === before) await h.clock.advance(100);
      lists.push(h.clock.now() - start);
    }
    assert.deepEqual(lists, [500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    h.store.down = false;
    await h.clock.advance(5_000);
    assert.equal(h.mirror.synced, true);
    h.store.cut();
    await h.clock.settle();
    const before = h.store.count("list");
    await h.clock.advance(499);
    assert.equal(h.store.count("list"), before);
    await h.clock.advance(1);
    assert.equal(h.store.count("list"), before + 1, "back to 0.5 s");
    h.mirror.close();
  });

  void it("when the watch breaks, answers from what it has and notices deletes made meanwhile once back", async () => {
    const h = setup();
    await h.memory.put(PREFIX + "a", "1");
    await h.memory.put(PREFIX + "b", "2");
    h.mirror.start();
    await h.clock.settle();
    h.store.cut();
    await h.memory.delete(PREFIX + "b"); // another host's change, unseen while cut off
    await h.memory.put(PREFIX + "c", "3");
    await h.clock.advance(3_000);
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "1", [PREFIX + "b"]: "2" }, "the last known state");
    assert.equal(h.mirror.synced, true, "still answers");
    assert.ok(h.log.messages("debug").includes("watch broke; listing again"));
    assert.deepEqual(h.health.slice(0, 3), [
      "ok",
      "failed: Watch broke: store unreachable",
      "failed: Cannot reach the store (list weave/peers/)",
    ]);
    h.store.down = false;
    await h.clock.advance(5_000);
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "1", [PREFIX + "c"]: "3" });
    assert.equal(h.health.at(-1), "ok");
    await h.memory.put(PREFIX + "d", "4");
    assert.equal(h.mirror.get(PREFIX + "d")?.value, "4", "watching again");
    h.mirror.close();
  });

  void it("refresh lists at once, without waiting for the back-off", async () => {
    const h = setup();
    h.store.down = true;
    h.mirror.start();
    await h.clock.advance(2_000);
    h.store.down = false;
    await h.memory.put(PREFIX + "a", "1");
    await h.mirror.refresh();
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "1" });
    assert.equal(h.clock.pending, 0, "the retry timer is gone");
    h.mirror.close();
  });

  void it("does nothing once closed: no retry, no change from the watch", async () => {
    const h = setup();
    h.mirror.start();
    await h.clock.settle();
    h.mirror.close();
    await h.memory.put(PREFIX + "a", "1");
    assert.equal(h.mirror.size, 0);
    const closedWhileRetrying = setup();
    closedWhileRetrying.store.down = true;
    closedWhileRetrying.mirror.start();
    await closedWhileRetrying.clock.settle();
    closedWhileRetrying.mirror.close();
    assert.equal(closedWhileRetrying.clock.pending, 0);
    await closedWhileRetrying.clock.advance(10_000);
    assert.equal(closedWhileRetrying.store.count("list"), 1);
  });
});
