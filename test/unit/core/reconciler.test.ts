/** The reconcile loop, on stepped time: no test waits on a real timer. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ReconcilerOptions } from "../../../src/core/index.js";
import { errorMessage, FakeClock, Reconciler } from "../../../src/core/index.js";

type Outcome = "ok" | "fail" | "again";

/** A reconciler whose passes take `duration` ms of fake time and end as `outcomes` say (then "ok"). */
function setup(options: Partial<ReconcilerOptions> = {}) {
  const clock = new FakeClock(1_000);
  const h = {
    clock,
    duration: 0,
    outcomes: [] as Outcome[],
    /** Fake times at which passes started, relative to the clock's start. */
    starts: [] as number[],
    errors: [] as string[],
    active: 0,
    maxActive: 0,
    reconciler: undefined as unknown as Reconciler,
  };
  const t = () => clock.now() - 1_000;
  h.reconciler = new Reconciler({
    clock,
    onError: (err) => h.errors.push(`${t()}: ${errorMessage(err)}`),
    pass: async () => {
      h.starts.push(t());
      h.active++;
      h.maxActive = Math.max(h.maxActive, h.active);
      const outcome = h.outcomes.shift() ?? "ok";
      try {
        if (h.duration > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, h.duration));
        else await Promise.resolve();
        if (outcome === "fail") throw new Error(`pass ${h.starts.length} failed`);
        return outcome === "again";
      } finally {
        h.active--;
      }
    },
    ...options,
  });
  return h;
}

void describe("Reconciler", () => {
  void it("runs a kicked pass at once, and coalesces kicks during a pass into one more pass after it", async () => {
    const h = setup();
    h.duration = 100;
    h.reconciler.kick();
    assert.deepEqual(h.starts, [0], "started synchronously");
    await h.clock.advance(50);
    for (let i = 0; i < 5; i++) h.reconciler.kick();
    await h.clock.advance(49);
    assert.deepEqual(h.starts, [0], "nothing while the first pass runs");
    await h.clock.advance(1);
    assert.deepEqual(h.starts, [0, 100], "exactly one more, right after");
    await h.clock.advance(1_000);
    assert.deepEqual(h.starts, [0, 100], "and no more");
    assert.equal(h.maxActive, 1);
    assert.equal(h.reconciler.running, false);
  });

  void it("never runs two passes at once, whatever asks (kick, runNow, flush, timers)", async () => {
    const h = setup({ intervalMs: 30, coalesceMs: 5, backoff: { minMs: 10, maxMs: 10 } });
    h.duration = 25;
    h.outcomes = ["fail", "ok", "again", "fail", "ok"];
    h.reconciler.start();
    for (let step = 0; step < 40; step++) {
      if (step % 3 === 0) h.reconciler.kick();
      if (step % 7 === 0) void h.reconciler.runNow();
      if (step % 11 === 0) void h.reconciler.flush();
      await h.clock.advance(7);
    }
    assert.ok(h.starts.length >= 8, `passes ran: ${h.starts.length}`);
    assert.equal(h.maxActive, 1);
    for (let i = 1; i < h.starts.length; i++) {
      assert.ok(
        (h.starts[i] ?? 0) - (h.starts[i - 1] ?? 0) >= 25,
        `pass ${i} overlapped: ${h.starts.join()}`,
      );
    }
  });

  void it("gathers a burst of kicks into one pass after coalesceMs", async () => {
    const h = setup({ coalesceMs: 20 });
    h.reconciler.kick();
    await h.clock.advance(10);
    h.reconciler.kick();
    h.reconciler.kick();
    assert.deepEqual(h.starts, []);
    await h.clock.advance(10);
    assert.deepEqual(h.starts, [20], "20 ms after the first kick, not pushed back by the later ones");
    await h.clock.advance(100);
    assert.deepEqual(h.starts, [20]);
  });

  void it("waits againDelayMs before a pass asked for during a pass, or by the pass itself", async () => {
    const h = setup({ againDelayMs: 200 });
    h.duration = 10;
    h.reconciler.kick();
    h.reconciler.kick();
    await h.clock.advance(209);
    assert.deepEqual(h.starts, [0]);
    await h.clock.advance(1);
    assert.deepEqual(h.starts, [0, 210]);
    await h.clock.advance(1_000);
    h.outcomes = ["again", "again", "ok"];
    h.reconciler.kick();
    await h.clock.advance(1_000);
    assert.deepEqual(
      h.starts,
      [0, 210, 1210, 1420, 1630],
      "each 'again' pass 200 ms after the end of the last",
    );
  });

  void it("runs periodic passes only once started, from the end of the last pass, the interval read each time", async () => {
    let interval = 100;
    const h = setup({ intervalMs: () => interval });
    h.duration = 10;
    h.reconciler.kick();
    await h.clock.advance(1_000);
    assert.deepEqual(h.starts, [0], "no periodic pass before start()");
    h.reconciler.start(50);
    await h.clock.advance(49);
    assert.deepEqual(h.starts, [0]);
    await h.clock.advance(1);
    assert.deepEqual(h.starts, [0, 1050], "first pass after the start delay");
    await h.clock.advance(110);
    assert.deepEqual(h.starts, [0, 1050, 1160], "then `interval` after each pass ended");
    h.reconciler.start(0); // a second start changes nothing
    interval = 300; // read when the running pass ends (1170): next periodic pass at 1470
    await h.clock.advance(50);
    h.reconciler.kick(); // runs at 1210, ends at 1220: the periodic pass moves to 1520
    await h.clock.advance(309);
    assert.deepEqual(h.starts, [0, 1050, 1160, 1210]);
    await h.clock.advance(1);
    assert.deepEqual(h.starts, [0, 1050, 1160, 1210, 1520]);
  });

  void it("start(0) runs the first pass on a timer, not inside the caller", async () => {
    const h = setup({ intervalMs: 1_000 });
    h.reconciler.start();
    assert.deepEqual(h.starts, []);
    await h.clock.advance(0);
    assert.deepEqual(h.starts, [0]);
  });

  void it("retries failed passes with a back-off that doubles to its maximum and is reset by a success", async () => {
    const h = setup({ backoff: { minMs: 100, maxMs: 500 } });
    h.outcomes = ["fail", "fail", "fail", "fail", "fail", "ok", "fail", "ok"];
    h.reconciler.kick();
    await h.clock.advance(10_000);
    // Failures at 0, 100, 300, 700, 1200 (waits 100, 200, 400, 500); success at 1700; then quiet.
    assert.deepEqual(h.starts, [0, 100, 300, 700, 1200, 1700]);
    assert.equal(h.reconciler.failures, 0);
    h.reconciler.kick(); // fails: the back-off starts again from its minimum
    assert.equal(h.starts.length, 7);
    await h.clock.advance(99);
    assert.equal(h.reconciler.failures, 1);
    assert.equal(h.starts.length, 7);
    await h.clock.advance(1);
    assert.deepEqual(h.starts.slice(6), [10_000, 10_100]);
    assert.equal(h.clock.pending, 0, "no timer left after success without a period");
  });

  void it("without back-off, a failed pass waits for a kick or the periodic pass", async () => {
    const h = setup({ intervalMs: 1_000 });
    h.outcomes = ["fail"];
    h.reconciler.start();
    await h.clock.advance(999);
    assert.deepEqual(h.starts, [0]);
    await h.clock.advance(1);
    assert.deepEqual(h.starts, [0, 1000]);
  });

  void it("a pass asked for during a failed pass runs at once, before the back-off", async () => {
    const h = setup({ backoff: { minMs: 1_000, maxMs: 1_000 } });
    h.duration = 10;
    h.outcomes = ["fail", "fail"];
    h.reconciler.kick();
    h.reconciler.kick();
    await h.clock.advance(10);
    assert.deepEqual(h.starts, [0, 10]);
    await h.clock.advance(2_000);
    assert.deepEqual(h.starts, [0, 10, 1020], "then the back-off after the second failure");
  });

  void it("reports every failure to onError, thrown or rejected, and never rejects into callers", async () => {
    const h = setup();
    h.outcomes = ["fail", "ok", "fail"];
    await h.reconciler.flush();
    await h.reconciler.runNow();
    await h.reconciler.flush();
    assert.deepEqual(h.errors, ["0: pass 1 failed", "0: pass 3 failed"]);

    const clock = new FakeClock();
    const seen: string[] = [];
    const throwing = new Reconciler({
      clock,
      pass: () => {
        throw new Error("thrown before any await");
      },
      onError: (err) => {
        seen.push(errorMessage(err));
        throw new Error("the handler fails too");
      },
      backoff: { minMs: 10, maxMs: 10 },
    });
    throwing.kick();
    await throwing.runNow();
    await clock.advance(10);
    assert.deepEqual(seen, ["thrown before any await", "thrown before any await"]);
    await throwing.close();
  });

  void it("runNow joins the running pass; flush waits for a pass that starts after it", async () => {
    const h = setup();
    h.duration = 100;
    const first = h.reconciler.runNow();
    await h.clock.advance(50);
    let joined = false;
    let flushed = false;
    void h.reconciler.runNow().then(() => (joined = true));
    void h.reconciler.flush().then(() => (flushed = true));
    await h.clock.advance(50);
    await first;
    assert.equal(joined, true, "runNow resolved with the running pass");
    assert.equal(flushed, false, "flush waits for the next pass");
    assert.deepEqual(h.starts, [0, 100]);
    await h.clock.advance(100);
    assert.equal(flushed, true);
    assert.deepEqual(h.starts, [0, 100], "runNow asked for no further pass");
  });

  void it("close waits for the running pass, stops every timer, ignores kicks and releases flushes", async () => {
    const h = setup({ intervalMs: 100, backoff: { minMs: 10, maxMs: 10 } });
    h.duration = 50;
    h.reconciler.start();
    await h.clock.advance(10);
    h.reconciler.kick(); // asks for another pass after this one: dropped by close
    let flushed = false;
    void h.reconciler.flush().then(() => (flushed = true));
    let closed = false;
    const closing = h.reconciler.close().then(() => (closed = true));
    await h.clock.settle();
    assert.equal(closed, false, "waits for the running pass");
    assert.equal(flushed, true);
    await h.clock.advance(40);
    await closing;
    assert.equal(closed, true);
    h.reconciler.kick();
    h.reconciler.start();
    await h.reconciler.runNow();
    await h.reconciler.flush();
    assert.equal(h.clock.pending, 0, "no timer left");
    await h.clock.advance(10_000);
    assert.deepEqual(h.starts, [0]);

    const idle = setup({ intervalMs: 100 });
    idle.reconciler.start();
    await idle.clock.advance(0);
    assert.equal(idle.clock.pending, 1, "the periodic timer");
    await idle.reconciler.close();
    assert.equal(idle.clock.pending, 0, "cancelled by close");
  });
});
