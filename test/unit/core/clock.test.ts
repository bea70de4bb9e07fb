import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, realClock } from "../../../src/core/index.js";

void describe("FakeClock", () => {
  void it("runs due timers in time order, ties in scheduling order, and moves now() to each", async () => {
    const clock = new FakeClock(1_000);
    const ran: string[] = [];
    clock.setTimeout(() => ran.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => ran.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => ran.push(`c@${clock.now()}`), 20);
    clock.setTimeout(() => ran.push(`late@${clock.now()}`), 31);
    await clock.advance(30);
    assert.deepEqual(ran, ["a@1010", "b@1020", "c@1020"]);
    assert.equal(clock.now(), 1_030);
    assert.equal(clock.pending, 1);
    assert.equal(clock.nextAt, 1_031);
  });

  void it("runs timers that timers schedule within the same step, and none beyond it", async () => {
    const clock = new FakeClock();
    const ran: number[] = [];
    const tick = () => {
      ran.push(clock.now());
      clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    await clock.advance(35);
    assert.deepEqual(ran, [10, 20, 30]);
    clock.setTimeout(() => ran.push(-clock.now()), 0);
    await clock.advance(0);
    assert.deepEqual(ran, [10, 20, 30, -35], "a 0 ms timer runs at the current time");
  });

  void it("cancelled timers do not run", async () => {
    const clock = new FakeClock();
    let ran = false;
    const t = clock.setTimeout(() => (ran = true), 5);
    t.cancel();
    t.cancel();
    await clock.advance(10);
    assert.equal(ran, false);
    assert.equal(clock.pending, 0);
  });

  void it("lets the promises a timer starts settle before the next timer runs", async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    clock.setTimeout(() => {
      void (async () => {
        await Promise.resolve();
        await Promise.resolve();
        log.push("async work done");
      })();
    }, 10);
    clock.setTimeout(() => log.push("next timer"), 10);
    await clock.advance(10);
    assert.deepEqual(log, ["async work done", "next timer"]);
  });
});

void describe("realClock", () => {
  void it("calls back after the delay, and not once cancelled", async () => {
    // Its timers are unref'd: this interval keeps the test's event loop alive meanwhile.
    const keepAlive = setInterval(() => undefined, 1_000);
    const start = realClock.now();
    await new Promise<void>((resolve) => realClock.setTimeout(resolve, 5));
    assert.ok(realClock.now() - start >= 4);
    let ran = false;
    realClock.setTimeout(() => (ran = true), 1).cancel();
    await new Promise<void>((resolve) => realClock.setTimeout(resolve, 10));
    clearInterval(keepAlive);
    assert.equal(ran, false);
  });
});
