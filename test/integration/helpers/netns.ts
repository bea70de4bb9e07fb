/**
 * Scratch network namespaces for root integration tests. Every namespace gets the prefix
 * `wvit-<random>-` and is deleted by its exact name; commands run inside it through an Exec that
 * prefixes `nsenter --net=/run/netns/NAME`, so the adapter under test never touches the host's network.
 */
import { accessSync, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { delimiter, join } from "node:path";
import { execFile } from "../../../src/core/index.js";
import type { Exec, ExecResult } from "../../../src/core/index.js";

/** Absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why a root tier cannot run here, or undefined when it can. */
export function missingRequirement(tools: readonly string[]): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  const missing = tools.filter((t) => which(t) === undefined);
  return missing.length > 0 ? `needs ${missing.join(", ")} (not installed)` : undefined;
}

/**
 * The `skip` option for a root suite: the reason when it cannot run, except under CI=true where a
 * skipped tier is a failure, so the suite runs and `assertRunnable` fails it with the reason.
 */
export function rootSkip(tools: readonly string[]): string | false {
  const reason = missingRequirement(tools);
  if (reason === undefined || process.env["CI"] === "true") return false;
  return reason;
}

/** Throws the reason the suite cannot run (used in `before`, so CI=true fails instead of skipping). */
export function assertRunnable(tools: readonly string[]): void {
  const reason = missingRequirement(tools);
  if (reason !== undefined) throw new Error(`Root integration tests cannot run: ${reason}`);
}

/** An Exec that runs every command inside network namespace `ns`. */
export function nsExec(ns: string): Exec {
  return (file, args, options) =>
    execFile("nsenter", [`--net=/run/netns/${ns}`, "--", file, ...args], options);
}

/** A set of namespaces made by one test file, deleted together by exact name. */
export class Netns {
  readonly prefix = `wvit-${randomBytes(3).toString("hex")}`;
  private readonly made: string[] = [];

  /** Creates namespace `<prefix>-<suffix>` with its loopback up; returns its name. */
  async add(suffix: string): Promise<string> {
    const name = `${this.prefix}-${suffix}`;
    await execFile("ip", ["netns", "add", name]);
    this.made.push(name);
    await this.ip(name, "link set lo up");
    return name;
  }

  /** Runs `ip ARGS` inside `ns` (ARGS split on spaces). */
  ip(ns: string, args: string): Promise<ExecResult> {
    return nsExec(ns)("ip", args.split(" "));
  }

  /** Runs a shell command inside `ns`. */
  sh(ns: string, script: string): Promise<ExecResult> {
    return nsExec(ns)("sh", ["-c", script], { check: false });
  }

  /** Deletes every namespace this set made, by exact name; ignores ones already gone. */
  async cleanup(): Promise<void> {
    for (const name of this.made.splice(0)) {
      await execFile("ip", ["netns", "del", name], { check: false });
    }
  }
}

const pingArgv: string[] | undefined = which("ping")
  ? ["ping"]
  : which("busybox")
    ? ["busybox", "ping"]
    : undefined;

/** The name of the ping tool the traffic tests need (`ping` or `busybox`). */
export const PING_TOOL = pingArgv ? (pingArgv[0] ?? "ping") : "ping";

/**
 * True when `ns` gets an ICMP echo reply from `ip`; tries up to `attempts` times, 1 s each.
 * Blocks for up to `attempts` seconds.
 */
export async function ping(ns: string, ip: string, attempts = 1): Promise<boolean> {
  const [file = "ping", ...pre] = pingArgv ?? ["ping"];
  for (let i = 0; i < attempts; i++) {
    const res = await nsExec(ns)(file, [...pre, "-c", "1", "-W", "1", ip], { check: false, timeoutMs: 5000 });
    if (res.code === 0) return true;
  }
  return false;
}
