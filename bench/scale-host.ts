/**
 * What bench:scale reads of the real host: its kernel's FDB and neighbour entries on weave's VXLAN
 * devices, the memory and CPU of the weave daemon with its children (the DNS workers), and the
 * bytes its underlay interface received.
 */
import { readdirSync, readFileSync } from "node:fs";
import { run } from "../test/e2e/harness/index.js";

/** Remote endpoints in the FDB (entries with a `dst`, flood entries left out) and neighbour entries. */
export async function kernelEntries(netns: string): Promise<{ fdb: number; neigh: number }> {
  const fdb = await run(["ip", "netns", "exec", netns, "bridge", "fdb", "show"], { timeoutMs: 120_000 });
  const neigh = await run(["ip", "-n", netns, "neigh", "show"], { timeoutMs: 120_000 });
  const count = (text: string, re: RegExp) => text.split("\n").filter((l) => re.test(l)).length;
  return {
    fdb: count(fdb.stdout, /^(?!00:00:00:00:00:00)\S+ dev vxw\d+ dst /),
    neigh: count(neigh.stdout, / dev vxw\d+ lladdr /),
  };
}

export interface Usage {
  pids: number;
  /** Resident set of all the processes, in bytes. */
  rss: number;
  /** User + system CPU time of all the processes and of the children they reaped, in seconds. */
  cpuS: number;
  /** RSS in bytes by command name (`node` for the daemon and its DNS workers, `ip`, `bridge`...). */
  rssByName: Record<string, number>;
  /**
   * CPU seconds by command name, as rssByName; "NAME's reaped children" for the children a process
   * of that name ran and reaped (commands, ended batch processes).
   */
  cpuByName: Record<string, number>;
}

const TICKS_PER_S = 100;

/** RSS and CPU time of `roots` and their children. */
export function processTree(roots: readonly number[]): Usage {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const stat = statFields(Number(e));
    if (stat) parent.set(Number(e), Number(stat[1]));
  }
  const tree = new Set(roots);
  for (const [pid, ppid] of parent) if (tree.has(ppid)) tree.add(pid);
  let rss = 0;
  let ticks = 0;
  const rssByName: Record<string, number> = {};
  const cpuByName: Record<string, number> = {};
  for (const pid of tree) {
    const stat = statFields(pid);
    if (!stat) continue;
    // utime + stime, and cutime + cstime: the children it has reaped (commands it ran, batch
    // processes it ended) count too.
    const own = Number(stat[11]) + Number(stat[12]);
    const reaped = Number(stat[13]) + Number(stat[14]);
    ticks += own + reaped;
    const status = readOr(`/proc/${pid}/status`);
    const bytes = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    const name = /Name:\s+(\S+)/.exec(status)?.[1] ?? "?";
    rss += bytes;
    rssByName[name] = (rssByName[name] ?? 0) + bytes;
    cpuByName[name] = (cpuByName[name] ?? 0) + own / TICKS_PER_S;
    const children = `${name}'s reaped children`;
    cpuByName[children] = (cpuByName[children] ?? 0) + reaped / TICKS_PER_S;
  }
  return { pids: tree.size, rss, cpuS: ticks / TICKS_PER_S, rssByName, cpuByName };
}

/**
 * /proc/PID/stat's fields after the command name: [state, ppid, ...]; utime is [11], stime [12],
 * cutime [13], cstime [14].
 */
function statFields(pid: number): string[] | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  return stat ? stat.slice(stat.lastIndexOf(")") + 2).split(" ") : undefined;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Bytes received so far on `ifname` in namespace `netns`. */
export async function rxBytes(netns: string, ifname: string): Promise<number> {
  const res = await run(["ip", "-n", netns, "-s", "-j", "link", "show", "dev", ifname]);
  const [link] = JSON.parse(res.stdout || "[]") as { stats64?: { rx?: { bytes?: number } } }[];
  return link?.stats64?.rx?.bytes ?? 0;
}
