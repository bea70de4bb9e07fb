/**
 * When weaveDNS's UDP worker processes should run (pure policy; the clock and the counting are
 * the caller's). An idle worker costs a whole Node process (~50 MB RSS) and a copy of the zone,
 * so with `--dns-workers N` the daemon answers alone until the UDP query rate stays above
 * `startRate` for `startAfterMs`, then starts the N workers; once the rate has stayed below
 * `stopRate` for `stopAfterMs` it stops them again. The gap between the two rates and the long
 * quiet period keep a bursty host from starting and stopping processes over and over.
 */
import { WeaveError } from "../core/index.js";

/** Thresholds of WorkerDemand (all optional; defaults in DEFAULT_WORKER_DEMAND). */
export interface WorkerDemandOptions {
  /** Queries per second above which workers start; default 2,000. */
  startRate?: number | undefined;
  /** How long the rate must stay above startRate, ms; default 2,000. */
  startAfterMs?: number | undefined;
  /** Queries per second below which running workers count as idle; default 200. */
  stopRate?: number | undefined;
  /** How long the rate must stay below stopRate before workers stop, ms; default 300,000 (5 min). */
  stopAfterMs?: number | undefined;
}

export const DEFAULT_WORKER_DEMAND: Required<{ [K in keyof WorkerDemandOptions]: number }> = {
  startRate: 2000,
  startAfterMs: 2000,
  stopRate: 200,
  stopAfterMs: 300_000,
};

/** What to do after a sample: start the workers, stop them, or nothing. */
export type WorkerDecision = "start" | "stop" | "none";

/** Start/stop decisions from query-rate samples. Holds whether it last decided "start". */
export class WorkerDemand {
  private readonly o: typeof DEFAULT_WORKER_DEMAND;
  private on = false;
  private last: number | undefined;
  /** Start of the current run of samples that point the other way (above start / below stop). */
  private streak: number | undefined;

  /** Throws WEAVE_CONFIG for a negative threshold or a stop rate above the start rate. */
  constructor(options: WorkerDemandOptions = {}) {
    const o = { ...DEFAULT_WORKER_DEMAND };
    for (const key of Object.keys(o) as (keyof typeof o)[]) {
      const v = options[key];
      if (v === undefined) continue;
      if (!(v >= 0)) throw new WeaveError("WEAVE_CONFIG", `Invalid DNS worker threshold ${key} ${v}`);
      o[key] = v;
    }
    if (o.stopRate > o.startRate) {
      throw new WeaveError(
        "WEAVE_CONFIG",
        `Invalid DNS worker thresholds: stop rate ${o.stopRate} is above start rate ${o.startRate}`,
      );
    }
    this.o = o;
  }

  /** True after a "start" decision, until a "stop" one. */
  get running(): boolean {
    return this.on;
  }

  /**
   * Feeds the mean query rate (queries/s) measured from the previous sample to `nowMs`; the
   * first sample counts as covering no time. Returns "start" or "stop" when the workers should
   * change state (the caller does it), else "none".
   */
  sample(nowMs: number, rate: number): WorkerDecision {
    const from = this.last ?? nowMs;
    this.last = nowMs;
    const pushing = this.on ? rate < this.o.stopRate : rate > this.o.startRate;
    if (!pushing) {
      this.streak = undefined;
      return "none";
    }
    this.streak ??= from;
    if (nowMs - this.streak < (this.on ? this.o.stopAfterMs : this.o.startAfterMs)) return "none";
    this.on = !this.on;
    this.streak = undefined;
    return this.on ? "start" : "stop";
  }
}
