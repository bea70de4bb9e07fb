/**
 * One reconcile loop: runs an async `pass` one at a time, whatever asks for it.
 *
 * - `kick()` asks for a pass: it starts now (or after `coalesceMs`, so that a burst of kicks costs
 *   one pass); while a pass runs, any number of kicks make exactly one more pass right after it
 *   (after `againDelayMs`). A pass may also ask for another soon by resolving `true`.
 * - After a failed pass (it threw or rejected): `onError` is told, and with `backoff` the pass is
 *   retried after `minMs`, doubling up to `maxMs`, reset by a pass that succeeds.
 * - Once started, a periodic pass runs `intervalMs` after the end of the last pass.
 *
 * There is one timer: the next pass runs at the earliest time anything asked for, and every pass
 * start cancels it; the end of each pass decides the next one. Kicks, back-off retries and again
 * passes work before `start()` too; `start()` adds the first and the periodic passes. A pass never
 * rejects into the caller: its error goes to `onError` only.
 */
import type { Clock, Timer } from "./clock.js";
import { realClock } from "./clock.js";

export interface ReconcilerOptions {
  /** One pass. Resolving `true` asks for another pass soon (after `againDelayMs`). */
  pass: () => Promise<boolean | void>;
  /** Told of every failed pass (never rethrown). */
  onError: (err: unknown) => void;
  clock?: Clock | undefined;
  /** Once started: time from the end of a pass to the next periodic pass (ms; read after each pass). */
  intervalMs?: number | (() => number);
  /**
   * How long `kick()` waits before the pass, gathering further kicks (ms; default 0: at once; a
   * function is read at each kick).
   */
  coalesceMs?: number | (() => number);
  /** Delay before a pass asked for while one ran, or by the pass itself (ms; default 0; read each time). */
  againDelayMs?: number | (() => number);
  /** Retry of a failed pass: `minMs`, doubling up to `maxMs` while passes fail. None: wait for a kick or the period. */
  backoff?: { minMs: number; maxMs: number };
}

interface Waiter {
  /** Resolve once this many passes have finished. */
  passes: number;
  resolve: () => void;
}

export class Reconciler {
  private readonly clock: Clock;
  private current: Promise<void> | undefined;
  private again = false;
  private timer: Timer | undefined;
  private timerAt = 0;
  private started = false;
  private closed = false;
  private passesStarted = 0;
  private passesFinished = 0;
  private waiters: Waiter[] = [];
  private failed = 0;

  constructor(private readonly o: ReconcilerOptions) {
    this.clock = o.clock ?? realClock;
  }

  /** Failed passes in a row (0 after a pass that succeeded). */
  get failures(): number {
    return this.failed;
  }

  /** True while a pass runs. */
  get running(): boolean {
    return this.current !== undefined;
  }

  /** Enables the periodic pass; the first pass runs `delayMs` from now (always on a timer). */
  start(delayMs = 0): void {
    if (this.closed || this.started) return;
    this.started = true;
    this.schedule(delayMs);
  }

  /** Asks for a pass: now (or after `coalesceMs`), or once more right after the running one. */
  kick(): void {
    if (this.closed) return;
    if (this.current) {
      this.again = true;
      return;
    }
    const coalesceMs = read(this.o.coalesceMs);
    if (coalesceMs > 0) this.schedule(coalesceMs);
    else this.run();
  }

  /** Joins the running pass, or runs one now; resolves when it has finished (even if it failed). */
  runNow(): Promise<void> {
    if (!this.current && !this.closed) this.run();
    return this.current ?? Promise.resolve();
  }

  /**
   * Asks for a pass that starts after this call (now, or right after the running one) and resolves
   * when it has finished (even if it failed), or when the reconciler is closed.
   */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.current) this.again = true;
    else this.run();
    const passes = this.passesStarted + (this.again ? 1 : 0);
    return new Promise((resolve) => this.waiters.push({ passes, resolve }));
  }

  /** Ignores kicks from now on, stops every timer and waits for the running pass. */
  async close(): Promise<void> {
    this.closed = true;
    this.again = false;
    this.cancelTimer();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    await this.current;
  }

  private run(): void {
    this.cancelTimer();
    this.passesStarted++;
    this.current = this.attempt().then((outcome) => {
      this.current = undefined;
      this.passesFinished++;
      this.wake();
      this.next(outcome);
    });
  }

  /** Runs the pass; "failed", "again" (it asked for another soon) or "done". */
  private async attempt(): Promise<"failed" | "again" | "done"> {
    try {
      return (await this.o.pass()) === true ? "again" : "done";
    } catch (err) {
      try {
        this.o.onError(err);
      } catch {
        // A failing error handler must not turn into an unhandled rejection.
      }
      return "failed";
    }
  }

  /** Decides, at the end of a pass, when the next one runs. */
  private next(outcome: "failed" | "again" | "done"): void {
    if (this.closed) return;
    this.failed = outcome === "failed" ? this.failed + 1 : 0;
    if (this.again || outcome === "again") {
      this.again = false;
      const delay = read(this.o.againDelayMs);
      if (delay > 0) this.schedule(delay);
      else this.run();
      return;
    }
    const backoff = this.o.backoff;
    if (outcome === "failed" && backoff) {
      this.schedule(Math.min(backoff.maxMs, backoff.minMs * 2 ** (this.failed - 1)));
      return;
    }
    if (this.started && this.o.intervalMs !== undefined) this.schedule(read(this.o.intervalMs));
  }

  /** Makes the next pass run `ms` from now, unless a pass is already due sooner. */
  private schedule(ms: number): void {
    const at = this.clock.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    this.cancelTimer();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      if (this.current) this.again = true;
      else this.run();
    }, ms);
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private wake(): void {
    const waiting: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.passesFinished >= w.passes) w.resolve();
      else waiting.push(w);
    }
    this.waiters = waiting;
  }
}

/** A delay option's value now (0 when unset). */
function read(ms: number | (() => number) | undefined): number {
  return typeof ms === "function" ? ms() : (ms ?? 0);
}
