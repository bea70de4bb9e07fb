/**
 * A `Clock` for tests: time moves only when the test says so. `advance(ms)` runs the timers that
 * fall due in time order (those scheduled by a running timer included, if due within the step) and
 * lets promises settle after each one, so an async pass started by a timer has finished before the
 * next timer runs. Promises that wait on real I/O or real timers are not waited for.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Clock, Timer } from "./clock.js";

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
}

/** Event-loop turns `settle` gives pending promises (each turn drains the microtask queue). */
const SETTLE_TURNS = 5;

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly entries = new Set<Entry>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const entry: Entry = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.entries.add(entry);
    return { cancel: () => this.entries.delete(entry) };
  }

  /** Number of timers not yet run or cancelled. */
  get pending(): number {
    return this.entries.size;
  }

  /** When the next timer is due (ms), or undefined when none is pending. */
  get nextAt(): number | undefined {
    return this.next()?.at;
  }

  /**
   * Moves time forward by `ms`, running every timer due by then in order (ties in the order they
   * were scheduled) and settling promises before, between and after them.
   */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    await this.settle();
    for (let e = this.next(); e && e.at <= until; e = this.next()) {
      this.entries.delete(e);
      this.time = Math.max(this.time, e.at);
      e.fn();
      await this.settle();
    }
    this.time = Math.max(this.time, until);
    await this.settle();
  }

  /** Lets promises that need no I/O settle (a few turns of the event loop; no time passes). */
  async settle(): Promise<void> {
    for (let i = 0; i < SETTLE_TURNS; i++) await nextTurn();
  }

  private next(): Entry | undefined {
    let best: Entry | undefined;
    for (const e of this.entries)
      if (!best || e.at < best.at || (e.at === best.at && e.seq < best.seq)) best = e;
    return best;
  }
}
