/**
 * The observing side of bench:scale, run by bench/scale.ts in a namespace of the real weave host:
 * - `kernel` mode (the host's namespace): follows `bridge monitor fdb` and `ip monitor neigh` and
 *   notes when each MAC's FDB entry and each address's neighbour entry appeared or went, and how
 *   many kernel changes there were in all;
 * - `dns` mode (a container's namespace): asks weaveDNS (argv[3], the network's gateway) for a name
 *   every 10 ms until the answer is the expected one.
 * stdin: one JSON Expectation per line; stdout: one JSON ProbeResult per line when it is met (or not
 * within 30 s), and `{"count":N}` lines for the kernel changes seen, on request ("count").
 */
import { spawn } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { createInterface } from "node:readline";

export interface Expectation {
  id: number;
  /** When the record was written (ms, Date.now()). */
  t: number;
  present: boolean;
  macs?: string[];
  ips?: string[];
  name?: string;
  ip?: string;
}

export interface ProbeResult {
  id: number;
  /** ms from `t` to the effect, or -1 when it was not seen within 30 s. */
  ms: number;
}

const mode = process.argv[2];
const GIVE_UP_MS = 30_000;
const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

/** Last time each key (MAC or IP) appeared / went. */
const added = new Map<string, number>();
const removed = new Map<string, number>();
let kernelChanges = 0;
let kernelDeletes = 0;

function follow(cmd: string, args: string[], keyOf: (line: string) => string | undefined): void {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
  createInterface({ input: child.stdout }).on("line", (line) => {
    const key = keyOf(line);
    if (!key) return;
    kernelChanges++;
    const now = Date.now();
    if (line.startsWith("Deleted")) {
      kernelDeletes++;
      removed.set(key, now);
    } else added.set(key, now);
  });
  process.on("exit", () => child.kill());
}

function kernelMet(e: Expectation): number | undefined {
  const keys = [...(e.macs ?? []), ...(e.ips ?? [])];
  let last = 0;
  for (const k of keys) {
    const at = (e.present ? added : removed).get(k);
    if (at === undefined || at < e.t - 1_000) return undefined;
    last = Math.max(last, at);
  }
  return Math.max(0, last - e.t);
}

async function dnsMet(resolver: Resolver, e: Expectation): Promise<number | undefined> {
  let answer: string[] = [];
  try {
    answer = await resolver.resolve4(e.name ?? "");
  } catch {
    answer = [];
  }
  const has = answer.includes(e.ip ?? "");
  return has === e.present ? Math.max(0, Date.now() - e.t) : undefined;
}

async function main(): Promise<void> {
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  if (mode === "kernel") {
    const mac = /^(?:Deleted )?([0-9a-f:]{17}) dev vxw/;
    const ip = /^(?:Deleted )?(\d+\.\d+\.\d+\.\d+) dev vxw/;
    follow("bridge", ["monitor", "fdb"], (l) => mac.exec(l)?.[1]);
    follow("ip", ["monitor", "neigh"], (l) => ip.exec(l)?.[1]);
  } else resolver.setServers([process.argv[3] ?? "127.0.0.1"]);
  const pending = new Set<Expectation>();
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line === "count") out({ count: kernelChanges, deletes: kernelDeletes });
    else pending.add(JSON.parse(line) as Expectation);
  });
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    for (const e of [...pending]) {
      const ms = mode === "kernel" ? kernelMet(e) : await dnsMet(resolver, e);
      if (ms !== undefined) out({ id: e.id, ms });
      else if (Date.now() - e.t > GIVE_UP_MS) out({ id: e.id, ms: -1 });
      else continue;
      pending.delete(e);
    }
  }
}

void main();
