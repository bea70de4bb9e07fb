/**
 * Reading the process table from /proc, to find and stop exactly the processes that live in a
 * simulated host's namespaces (and their descendants, e.g. container processes under a shim).
 * Everything here identifies processes by PID and namespace inode, never by name.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { sleep } from "./exec.js";

/** Namespace identity as the kernel prints it, e.g. `net:[4026532246]`, or undefined if unreadable. */
export function namespaceOf(pid: number, kind: "net" | "mnt"): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Identity (`net:[inode]`) of the named network namespace under /run/netns, or undefined. */
export function namedNetns(name: string): string | undefined {
  try {
    return `net:[${statSync(`/run/netns/${name}`).ino}]`;
  } catch {
    return undefined;
  }
}

/** All PIDs currently in /proc. */
export function listPids(): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** Parent PID and state letter from /proc/PID/stat, or undefined when the process is gone. */
export function statOf(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "?", ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = statOf(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

/**
 * PIDs of live processes in network namespace `net` or mount namespace `mnt` (either may be undefined),
 * plus all their descendants, excluding the PIDs in `except`. Synchronous; reads /proc once.
 */
export function processesIn(
  net: string | undefined,
  mnt: string | undefined,
  except: number[] = [],
): number[] {
  const pids = listPids();
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const stat = statOf(pid);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const found = new Set<number>();
  const visit = (pid: number): void => {
    if (found.has(pid)) return;
    found.add(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const inNet = net !== undefined && namespaceOf(pid, "net") === net;
    const inMnt = mnt !== undefined && namespaceOf(pid, "mnt") === mnt;
    if (inNet || inMnt) visit(pid);
  }
  for (const pid of except) found.delete(pid);
  found.delete(process.pid);
  return [...found].filter(isAlive).sort((a, b) => a - b);
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

/** Polls until every PID in `pids` is gone or a zombie; resolves false when `timeoutMs` passes first. */
export async function waitForExit(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!pids.some(isAlive)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/** SIGKILLs the given PIDs and waits up to `timeoutMs` for them to go; resolves false if some remain. */
export async function killAll(pids: number[], timeoutMs = 10_000): Promise<boolean> {
  for (const pid of pids) signalPid(pid, "SIGKILL");
  return waitForExit(pids, timeoutMs);
}
