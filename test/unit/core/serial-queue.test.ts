import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyedSerialQueue } from "../../../src/core/index.js";

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve exposed. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

void describe("KeyedSerialQueue", () => {
  void it("runs tasks of one key one at a time, in arrival order", async () => {
    const q = new KeyedSerialQueue();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, ms: number) => async () => {
      running++;
      assert.equal(running, 1, "never two tasks of one key at once");
      log.push(`start ${name}`);
      await tick(ms);
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([
      q.run("n", task("a", 15)),
      q.run("n", task("b", 1)),
      q.run("n", task("c", 5)),
    ]);
    assert.deepEqual(results, ["a", "b", "c"]);
    assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  });

  void it("keeps the order when a task throws or rejects, and reports the error to its caller only", async () => {
    const q = new KeyedSerialQueue();
    const log: string[] = [];
    const a = q.run("n", async () => {
      await tick(5);
      log.push("a");
      throw new Error("a failed");
    });
    const b = q.run("n", () => {
      log.push("b");
      throw new Error("b failed synchronously");
    });
    const c = q.run("n", async () => {
      log.push("c");
      return 3;
    });
    await assert.rejects(a, /a failed/);
    await assert.rejects(b, /b failed synchronously/);
    assert.equal(await c, 3);
    assert.deepEqual(log, ["a", "b", "c"]);
  });

  void it("runs tasks of different keys concurrently", async () => {
    const q = new KeyedSerialQueue();
    const g = gate();
    const log: string[] = [];
    const blocked = q.run("one", async () => {
      log.push("one started");
      await g.promise;
      log.push("one done");
    });
    const other = q.run("two", async () => {
      log.push("two ran");
      return "two";
    });
    assert.equal(await other, "two", "key two is not blocked behind key one");
    assert.deepEqual(log, ["one started", "two ran"]);
    g.open();
    await blocked;
    assert.deepEqual(log, ["one started", "two ran", "one done"]);
  });

  void it("a task queued behind a blocked one waits for it", async () => {
    const q = new KeyedSerialQueue();
    const g = gate();
    let secondRan = false;
    const first = q.run("k", () => g.promise);
    const second = q.run("k", () => {
      secondRan = true;
    });
    await tick(5);
    assert.equal(secondRan, false);
    g.open();
    await Promise.all([first, second]);
    assert.equal(secondRan, true);
  });

  void it("forgets idle keys", async () => {
    const q = new KeyedSerialQueue();
    const g = gate();
    const p = q.run("a", () => g.promise);
    const r = q.run("b", () => 1);
    assert.equal(q.activeKeys, 2);
    await r;
    await tick();
    assert.equal(q.activeKeys, 1);
    g.open();
    await p;
    await tick();
    assert.equal(q.activeKeys, 0);
    await assert.rejects(
      q.run("a", () => Promise.reject(new Error("x"))),
      /x/,
    );
    await tick();
    assert.equal(q.activeKeys, 0);
  });
});
