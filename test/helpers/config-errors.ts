/** Assertions on WEAVE_CONFIG errors: the code, and the words the message must contain. */
import assert from "node:assert/strict";
import { isWeaveError } from "../../src/core/index.js";

function check(err: unknown, mustMention: readonly string[]): true {
  assert.ok(isWeaveError(err, "WEAVE_CONFIG"), `expected WEAVE_CONFIG, got ${String(err)}`);
  for (const m of mustMention) assert.ok(err.message.includes(m), `"${err.message}" should mention ${m}`);
  return true;
}

/** Asserts that `fn` throws WEAVE_CONFIG with a message that mentions each of `mustMention`. */
export function configError(fn: () => unknown, ...mustMention: string[]): void {
  assert.throws(fn, (err: unknown) => check(err, mustMention));
}

/** Asserts that `p` rejects with WEAVE_CONFIG with a message that mentions each of `mustMention`. */
export async function configRejects(p: Promise<unknown>, ...mustMention: string[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => check(err, mustMention));
}
