import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WorkerDemand, type WorkerDecision } from "../../../src/dns/worker-demand.js";

/** Feeds one sample per second (a fake clock), rate by rate; returns the decisions with their time. */
function run(demand: WorkerDemand, rates: number[], start = 0): string[] {
  const out: string[] = [];
  rates.forEach((rate, i) => {
    const t = start + i * 1000;
    const d: WorkerDecision = demand.sample(t, rate);
    if (d !== "none") out.push(`${d}@${t / 1000}s`);
  });
  return out;
}

const seconds = (n: number, rate: number): number[] => Array.from({ length: n }, () => rate);

void describe("WorkerDemand", () => {
  void it("starts workers once the rate stays above 2,000 q/s for 2 s, not on a one-second burst", () => {
    const demand = new WorkerDemand();
    assert.deepEqual(run(demand, [0, 100, 5000, 100, 5000, 1999, 2500, 2500, 2500, 2500]), ["start@7s"]);
    assert.equal(demand.running, true);
  });

  void it("the first sample covers no time", () => {
    assert.deepEqual(run(new WorkerDemand(), [9000, 9000, 9000]), ["start@2s"]);
  });

  void it("stops them after 5 minutes under 200 q/s; any busier second restarts the wait", () => {
    const demand = new WorkerDemand();
    assert.deepEqual(run(demand, [0, 3000, 3000]), ["start@2s"]);
    // 4 min quiet, one busy second (between the thresholds: not idle), then quiet again.
    const quiet = [...seconds(240, 50), 500, ...seconds(299, 199)];
    assert.deepEqual(run(demand, quiet, 3000), [], "no stop before 5 quiet minutes in a row");
    assert.deepEqual(run(demand, [0, 0], 3000 + quiet.length * 1000), ["stop@543s"]);
    assert.equal(demand.running, false);
  });

  void it("a rate between the thresholds changes nothing either way", () => {
    const demand = new WorkerDemand();
    assert.deepEqual(run(demand, seconds(600, 1000)), []);
    assert.deepEqual(run(demand, [0, 3000, 3000, ...seconds(600, 1000)], 600_000), ["start@602s"]);
  });

  void it("takes other thresholds and rejects inconsistent ones", () => {
    const demand = new WorkerDemand({ startRate: 10, startAfterMs: 0, stopRate: 1, stopAfterMs: 3000 });
    assert.deepEqual(run(demand, [11, 0, 0, 0, 0]), ["start@0s", "stop@3s"]);
    assert.throws(() => new WorkerDemand({ startRate: 100, stopRate: 200 }), { code: "WEAVE_CONFIG" });
    assert.throws(() => new WorkerDemand({ stopAfterMs: -1 }), { code: "WEAVE_CONFIG" });
  });
});
