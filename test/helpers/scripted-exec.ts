/** An Exec for adapter tests: answers reads from a table, fails on demand, records every call. */
import type { Exec } from "../../src/core/index.js";

/**
 * Answers a command with the text of the first `state` entry whose key starts it (stdout), or
 * fails it with exit code `failCode` when `fail` returns a message (stderr). Calls are recorded as
 * text, with their standard input after `<<<`.
 */
export function scriptedExec(
  state: Record<string, string>,
  fail: (cmd: string) => string | undefined,
  failCode = 2,
): { exec: Exec; calls: string[] } {
  const calls: string[] = [];
  const exec: Exec = async (file, args, options) => {
    const cmd = [file, ...args].join(" ");
    calls.push(options?.input !== undefined ? `${cmd} <<< ${options.input.trim()}` : cmd);
    const stderr = fail(cmd) ?? "";
    const hit = Object.entries(state).find(([prefix]) => cmd.startsWith(prefix));
    return Promise.resolve({ stdout: hit?.[1] ?? "", stderr, code: stderr === "" ? 0 : failCode });
  };
  return { exec, calls };
}
