/** Deciding whether the e2e tier can run on this machine. */
import { findExecutable } from "./exec.js";

/** Binaries the e2e harness runs on the machine (outside the test image). */
export const E2E_BINARIES = [
  "dockerd",
  "docker",
  "busybox",
  "nsenter",
  "unshare",
  "ip",
  "iptables",
  "tar",
] as const;

/**
 * Returns why the e2e tests cannot run here (not root, or required binaries missing), or undefined
 * when they can. Pass the result as node:test's `skip` option. Under `CI=true` a reason is not a skip
 * but a failure: this function then throws, so the test file fails. Does not block.
 */
export function requireE2E(extraBinaries: readonly string[] = []): string | undefined {
  const reasons: string[] = [];
  if (process.getuid?.() !== 0) reasons.push("not root (run with sudo)");
  const missing = [...E2E_BINARIES, ...extraBinaries].filter((b) => findExecutable(b) === undefined);
  if (missing.length > 0) reasons.push(`missing ${missing.join(", ")}`);
  if (reasons.length === 0) return undefined;
  const reason = `e2e needs root and real Docker: ${reasons.join("; ")}`;
  if (process.env.CI === "true") throw new Error(`${reason} (CI=true: a skipped e2e test is a failure)`);
  return reason;
}
