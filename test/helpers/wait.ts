/** Waiting in tests on real timers, in small steps and never for long. */
import assert from "node:assert/strict";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `check()` holds; fails the test after `ms`. */
export async function until(what: string, check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}
