/**
 * The `Clock` port: the time and the timers of every loop that waits (reconcilers, retries,
 * renewals). The real clock's timers are unref'd: a pending retry never keeps the process alive,
 * the daemon's sockets do. Tests use `FakeClock` (fake-clock.ts) and step time instead of sleeping.
 */

/** A pending timer. */
export interface Timer {
  /** Stops the timer; nothing happens if it already ran or was cancelled. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now (0 or less: on a later turn of the event loop). */
  setTimeout(fn: () => void, ms: number): Timer;
}

/** Node's clock: `Date.now()` and unref'd `setTimeout`. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
