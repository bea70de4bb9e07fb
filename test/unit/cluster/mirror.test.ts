/** PrefixMirror: a local copy of one prefix, kept by a watch, on stepped time over an in-memory store. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { MirrorChange } from "../../../src/cluster/mirror.js";
import { PrefixMirror } from "../../../src/cluster/mirror.js";
import { FakeClock, silentLogger } from "../../../src/core/index.js";
import type { KeyValue } from "../../../src/store/index.js";
import { MemoryClusterStore } from "../../../src/store/index.js";
import { captureLogger, FlakyStore } from "./kit.js";

const PREFIX = "weave/peers/";

/**
 * A FlakyStore whose listings can be followed by other hosts' writes and a compaction before the
 * lister gets the answer (as when a big listing takes a while), so that the watch from the listing's
 * revision + 1 starts on a compacted revision.
 */
class CompactingStore extends FlakyStore {
  /** Run once each, in turn, after a listing and before its answer. */
  readonly afterList: (() => Promise<void>)[] = [];

  override async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    const listing = await super.list(prefix);
    await this.afterList.shift()?.();
    return listing;
  }

  /** Another host's writes, then a compaction at the store's revision. */
  async writeAndCompact(writes: [key: string, value: string | undefined][]): Promise<void> {
    for (const [key, value] of writes)
      if (value === undefined) await this.inner.delete(PREFIX + key);
      else await this.inner.put(PREFIX + key, value);
    await this.inner.compact((await this.inner.list(PREFIX)).revision);
  }
}

function setup() {
  const clock = new FakeClock(1_000_000);
  const memory = new MemoryClusterStore(() => clock.now());
  const store = new CompactingStore(memory);
  const log = captureLogger();
  const health: string[] = [];
  const changes: (MirrorChange | undefined)[] = [];
  const mirror = new PrefixMirror({
    store,
    prefix: PREFIX,
    logger: log.logger,
    clock,
    onChange: (change) => changes.push(change),
    onHealth: (ok, error) => health.push(ok ? "ok" : `failed: ${error ?? ""}`),
  });
  return { clock, memory, store, log, health, mirror, changes: () => changes.length, changeList: changes };
}

/** The changes as short text: "reset", "put KEY=VALUE", "delete KEY". */
const described = (changes: (MirrorChange | undefined)[]) =>
  changes.map((c) =>
    c?.kind === "key"
      ? c.value
        ? `put ${c.key.slice(PREFIX.length)}=${c.value.value}`
        : `delete ${c.key.slice(PREFIX.length)}`
      : (c?.kind ?? "none"),
  );

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

  void it("keeps only what `keep` makes of each record, or nothing, and hands the listing to its owner", async () => {
    const clock = new FakeClock(1_000_000);
    const memory = new MemoryClusterStore(() => clock.now());
    await memory.put(PREFIX + "a", "1");
    await memory.put(PREFIX + "b", "2");
    const seen: MirrorChange[] = [];
    const parsed = new PrefixMirror<number>({
      store: memory,
      prefix: PREFIX,
      logger: silentLogger,
      clock,
      onChange: (change) => seen.push(change),
      keep: (kv) => Number(kv.value) * 10,
    });
    const none = new PrefixMirror<never>({
      store: memory,
      prefix: PREFIX,
      logger: silentLogger,
      clock,
      onChange: (change) => seen.push(change),
      keep: false,
    });
    parsed.start();
    none.start();
    await clock.settle();
    assert.deepEqual(
      [...parsed.keyed()],
      [
        [PREFIX + "a", 10],
        [PREFIX + "b", 20],
      ],
    );
    assert.equal(none.size, 0);
    assert.equal(none.synced, true);
    const resets = seen.filter((c) => c.kind === "reset");
    assert.deepEqual(
      resets.map((c) => c.items.map((kv) => kv.value)),
      [
        ["1", "2"],
        ["1", "2"],
      ],
      "each listing's records, for owners that keep their own copy",
    );
    await memory.put(PREFIX + "a", "3");
    await memory.delete(PREFIX + "b");
    assert.deepEqual([...parsed.keyed()], [[PREFIX + "a", 30]]);
    assert.equal(none.size, 0);
    assert.deepEqual(described(seen.filter((c) => c.kind === "key")), [
      "put a=3",
      "put a=3",
      "delete b",
      "delete b",
    ]);
    parsed.close();
    none.close();
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

  void it("says what changed: a reset after each listing, then each key a watch event touched", async () => {
    const h = setup();
    await h.memory.put(PREFIX + "a", "1");
    h.mirror.start();
    await h.clock.settle();
    await h.memory.put(PREFIX + "b", "2");
    await h.memory.put(PREFIX + "a", "11");
    const put = h.changeList.at(-1);
    assert.equal(put?.kind === "key" && put.value, h.mirror.get(PREFIX + "a"), "the mirrored entry itself");
    await h.memory.delete(PREFIX + "b");
    await h.mirror.refresh();
    assert.deepEqual(described(h.changeList), ["reset", "put b=2", "put a=11", "delete b", "reset"]);
    h.mirror.close();
  });

  void it("lists again at once, with no failure reported, when the store compacted past its watch", async () => {
    const h = setup();
    await h.memory.put(PREFIX + "a", "1");
    await h.memory.put(PREFIX + "b", "2");
    const listedAt = await h.memory.put(PREFIX + "x", "9");
    // Between the listing and the watch: b and x go, c comes, a changes, and the history goes.
    h.store.afterList.push(() =>
      h.store.writeAndCompact([
        ["b", undefined],
        ["c", "3"],
        ["a", "11"],
        ["x", undefined],
        ["d", "4"],
      ]),
    );
    h.mirror.start();
    await h.clock.settle();
    assert.equal(h.store.count("list"), 2, "listed again without waiting");
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "11", [PREFIX + "c"]: "3", [PREFIX + "d"]: "4" });
    assert.deepEqual(h.health, ["ok", "ok"], "no failure reported");
    assert.deepEqual(described(h.changeList), ["reset", "reset"]);
    const line = h.log.lines.find((l) => l.msg === "the store compacted past this watch; listing again");
    assert.equal(line?.level, "info");
    assert.deepEqual(
      [line["prefix"], line["fromRevision"], line["compactRevision"]],
      [PREFIX, listedAt + 1, listedAt + 5],
    );
    assert.equal(h.clock.pending, 0, "no retry timer");
    await h.memory.put(PREFIX + "e", "5");
    assert.equal(h.mirror.get(PREFIX + "e")?.value, "5", "watching again");
    h.mirror.close();
  });

  void it("waits the back-off before a second listing in a row lost to compaction", async () => {
    const h = setup();
    await h.memory.put(PREFIX + "a", "1");
    for (const v of ["2", "3"])
      h.store.afterList.push(() =>
        h.store.writeAndCompact([
          ["a", v],
          ["b", v],
        ]),
      );
    h.mirror.start();
    await h.clock.settle();
    assert.equal(h.store.count("list"), 2);
    await h.clock.advance(499);
    assert.equal(h.store.count("list"), 2, "no tight loop of listings");
    await h.clock.advance(1);
    assert.equal(h.store.count("list"), 3);
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "3", [PREFIX + "b"]: "3" });
    assert.equal(h.health.includes("ok") && h.health.every((x) => x === "ok"), true, h.health.join());
    assert.equal(h.log.messages("info").length, 2);
    // A watch that delivered events has made progress: the next compaction lists at once again.
    await h.memory.put(PREFIX + "c", "4");
    h.store.afterList.push(() =>
      h.store.writeAndCompact([
        ["d", "5"],
        ["c", undefined],
      ]),
    );
    h.store.cut();
    h.store.down = false;
    await h.clock.advance(500);
    assert.equal(h.store.count("list"), 5, "the retry after the cut, then at once after the compaction");
    assert.equal(h.clock.pending, 0, "no retry timer");
    assert.deepEqual(content(h.mirror), { [PREFIX + "a"]: "3", [PREFIX + "b"]: "3", [PREFIX + "d"]: "5" });
    h.mirror.close();
  });
});
