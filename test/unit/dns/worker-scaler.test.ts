import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../../src/core/index.js";
import { WorkerDemand } from "../../../src/dns/worker-demand.js";
import { type ScalablePool, WorkerScaler } from "../../../src/dns/worker-scaler.js";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records start/stop calls as text. */
class FakePool implements ScalablePool {
  readonly size = 2;
  readonly calls: string[] = [];
  start(): Promise<void> {
    this.calls.push("start");
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.calls.push("stop");
    return Promise.resolve();
  }
}

void describe("WorkerScaler", () => {
  void it("turns the query count into a rate, starts and stops the pool and logs both at info", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "info", sink: (l) => lines.push(l) });
    const pool = new FakePool();
    let now = 0;
    let queries = 0;
    const scaler = new WorkerScaler({
      pool,
      demand: new WorkerDemand(),
      queries: () => queries,
      logger,
      now: () => now,
    });
    const second = (rate: number): void => {
      now += 1000;
      queries += rate;
      scaler.tick();
    };
    scaler.tick();
    for (let i = 0; i < 10; i++) second(150);
    second(3000);
    second(3000);
    await settle();
    assert.deepEqual(pool.calls, ["start"]);
    for (let i = 0; i < 299; i++) second(100);
    await settle();
    assert.deepEqual(pool.calls, ["start"], "not before 5 quiet minutes");
    second(100);
    await scaler.close();
    assert.deepEqual(pool.calls, ["start", "stop"]);
    const logged = lines.map(
      (l) => JSON.parse(l) as { level: string; msg: string; rate: number; workers: number },
    );
    assert.deepEqual(
      logged.map((l) => [l.level, l.rate, l.workers]),
      [
        ["info", 3000, 2],
        ["info", 100, 2],
      ],
    );
    assert.match(logged[0]?.msg ?? "", /Starting DNS worker processes/);
    assert.match(logged[1]?.msg ?? "", /Stopping DNS worker processes/);
  });
});
