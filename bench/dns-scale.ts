/**
 * bench:dns-scale - how weaveDNS's zone grows with the cluster (run by hand, not in CI).
 *
 *   npm run bench:dns-scale [-- NAMES]        (default 100000: a 1,000-host cluster)
 *
 * Fills a Zone as the cluster replica does (owners `r:host<H>:c:<64 hex>`, one name and one IPv4
 * each, scoped by network, entries parsed from the JSON the store holds) and prints:
 * - heap bytes per name (V8 heap after a full GC, relative to an empty zone), and of a worker's
 *   replica loaded from the snapshot;
 * - time per lookup at 1k, 10k and N names (flat when lookups are O(1)); the ratio to the 1k
 *   zone is the figure to watch;
 * - time to apply one change at N names, and the size of its worker message;
 * - size and time of the worker's start message (the snapshot): serialise, parse, load.
 *
 *   npm run bench:dns-scale -- --idle [NAMES]
 *
 * Idle memory instead: a DnsServer as dns-service makes it (one --dns-workers process, listening
 * on 127.0.0.1) with an empty zone and with NAMES names, workers on demand and always on, each in
 * a fresh process; prints the RSS of that process and of its worker processes after 3 idle
 * seconds. Under tsx, so a few MB above the compiled daemon.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createLogger } from "../src/core/index.js";
import {
  ALL_NETWORKS,
  DnsServer,
  RRType,
  Zone,
  type ZoneChange,
  type ZoneEntry,
  type ZoneView,
} from "../src/dns/index.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const HOSTS = 1000;
const NETWORKS = 10;

/** The i-th container of the cluster: its owner key and the JSON its host published. */
function container(i: number): { owner: string; json: string; name: string } {
  const id = (i * 2654435761).toString(16).padStart(16, "0").repeat(4).slice(0, 64);
  const name = `svc${i}-${id.slice(0, 6)}.weave.local.`;
  const ip = `10.${32 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const entries = [{ name, ipv4: [ip], ipv6: [], scope: `net${i % NETWORKS}`, member: true }];
  return { owner: `r:host${i % HOSTS}:c:${id}`, json: JSON.stringify({ entries }), name };
}

/** Fills `zone` with names [from, to) as DnsReplica.apply would (entries parsed from the store). */
function fill(zone: Zone, from: number, to: number): string[] {
  const names: string[] = [];
  for (let i = from; i < to; i++) {
    const c = container(i);
    const { entries } = JSON.parse(c.json) as { entries: ZoneEntry[] };
    zone.set(c.owner, entries);
    names.push(c.name);
  }
  return names;
}

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** Mean ns per lookup of existing names through `view`, over enough rounds to be stable. */
function lookupNs(zone: Zone, names: readonly string[], view: ZoneView): number {
  const order = Array.from({ length: 50_000 }, (_, k) => names[(k * 7919) % names.length] ?? "");
  let hits = 0;
  for (const q of order.slice(0, 5000)) if (zone.lookup(q, RRType.A, 1, view).kind === "answer") hits++;
  const start = process.hrtime.bigint();
  for (let round = 0; round < 4; round++)
    for (const q of order) if (zone.lookup(q, RRType.A, 1, view).kind === "answer") hits++;
  const ns = Number(process.hrtime.bigint() - start) / (order.length * 4);
  if (hits === 0) throw new Error("No lookup found its name");
  return ns;
}

function memory(n: number): { perName: number; zone: Zone; names: string[] } {
  const base = heapUsed();
  const zone = new Zone();
  const names = fill(zone, 0, n);
  const perName = (heapUsed() - base) / n;
  return { perName, zone, names };
}

function lookups(n: number, big: { zone: Zone; names: string[] }): void {
  console.log("\nLookup (existing name, type A), mean per query; hot: the same 1,000 names at every size,");
  console.log("random: names spread over the whole zone (adds the CPU cache misses of a larger zone):");
  const hot = big.names.slice(0, 1000);
  lookupNs(big.zone, hot, ALL_NETWORKS); // JIT warm-up
  let reference = 0;
  for (const size of [1000, 10_000, n]) {
    const zone = size === n ? big.zone : new Zone();
    const names = size === n ? big.names : fill(zone, 0, size);
    const warm = lookupNs(zone, hot, ALL_NETWORKS);
    const all = lookupNs(zone, names, ALL_NETWORKS);
    const scoped = lookupNs(zone, names, zone.view(["net1", "net2"]));
    reference ||= warm;
    console.log(
      `  ${String(size).padStart(7)} names: hot ${warm.toFixed(0).padStart(4)} ns (x${(warm / reference).toFixed(2)} vs 1k)` +
        `  random ${all.toFixed(0).padStart(4)} ns, ${scoped.toFixed(0).padStart(4)} ns through a 2-network view`,
    );
  }
}

function changes(zone: Zone, n: number): void {
  let last: ZoneChange | undefined;
  const off = zone.subscribe((c) => (last = c));
  const rounds = 2000;
  const extra = Array.from({ length: rounds }, (_, k) => container(n + k));
  const start = process.hrtime.bigint();
  for (const c of extra) zone.set(c.owner, (JSON.parse(c.json) as { entries: ZoneEntry[] }).entries);
  for (const c of extra) zone.remove(c.owner);
  const us = Number(process.hrtime.bigint() - start) / (rounds * 2) / 1000;
  zone.set(extra[0]?.owner ?? "", (JSON.parse(extra[0]?.json ?? "") as { entries: ZoneEntry[] }).entries);
  const bytes = JSON.stringify({ type: "zone", change: last }).length;
  zone.remove(extra[0]?.owner ?? "");
  off();
  console.log(
    `\nOne change at ${n} names: ${us.toFixed(2)} us (set or remove); worker message ${bytes} bytes`,
  );
}

function snapshot(zone: Zone, n: number, perName: number): void {
  let start = process.hrtime.bigint();
  const text = JSON.stringify({ type: "init", snapshot: zone.snapshot() });
  const encodeMs = Number(process.hrtime.bigint() - start) / 1e6;
  const base = heapUsed();
  start = process.hrtime.bigint();
  const replica = new Zone();
  replica.load((JSON.parse(text) as { snapshot: Parameters<Zone["load"]>[0] }).snapshot);
  const loadMs = Number(process.hrtime.bigint() - start) / 1e6;
  const replicaPerName = (heapUsed() - base) / n;
  if (replica.version !== zone.version) throw new Error("The replica did not load the snapshot");
  console.log(
    `\nWorker snapshot: ${mb(text.length)} (${(text.length / n).toFixed(0)} bytes/name); ` +
      `serialise ${encodeMs.toFixed(0)} ms, parse + load ${loadMs.toFixed(0)} ms`,
  );
  console.log(
    `Replica loaded from it: ${replicaPerName.toFixed(0)} heap bytes/name (source zone ${perName.toFixed(0)})`,
  );
}

/** Resident memory of process `pid`, bytes (VmRSS). */
function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

/** This process's child processes (forked by any of its threads). */
function children(): number[] {
  const tasks = readdirSync(`/proc/${process.pid}/task`);
  return tasks.flatMap((t) =>
    readFileSync(`/proc/${process.pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One idle run (in its own process): prints `{names, mode, daemon, workers}` as JSON, bytes. */
async function idleRun(n: number, mode: string): Promise<void> {
  const zone = new Zone();
  fill(zone, 0, n);
  const server = new DnsServer({
    zone,
    logger: createLogger({ level: "warning" }),
    port: 20_000 + Math.floor(Math.random() * 30_000),
    upstream: { servers: ["127.0.0.1:9"] },
    udpWorkers: 1,
    workerLogLevel: "warning",
    ...(mode === "on-demand" ? { workersOnDemand: {} } : {}),
  });
  await server.start();
  await server.setAddresses(["127.0.0.1"]);
  await sleep(3000);
  gc();
  await sleep(500);
  const workers = children().map(rss);
  console.log(JSON.stringify({ names: n, mode, daemon: rss(process.pid), workers }));
  await server.close();
}

function idle(n: number): void {
  console.log(`Idle RSS of a DnsServer with --dns-workers 1 (tsx; process RSS, worker processes' RSS):`);
  for (const names of [0, n]) {
    for (const mode of ["always", "on-demand"]) {
      const self = fileURLToPath(import.meta.url);
      const out = execFileSync(
        process.execPath,
        [...process.execArgv, self, "--idle-run", String(names), mode],
        {
          encoding: "utf8",
        },
      );
      const r = JSON.parse(out.trim().split("\n").pop() ?? "") as { daemon: number; workers: number[] };
      const total = r.daemon + r.workers.reduce((a, b) => a + b, 0);
      console.log(
        `  ${String(names).padStart(6)} names, workers ${mode.padEnd(9)}: daemon ${mb(r.daemon)}, ` +
          `workers [${r.workers.map(mb).join(", ")}], total ${mb(total)}`,
      );
    }
  }
}

function main(): void {
  const [first, second, third] = process.argv.slice(2);
  if (first === "--idle-run") {
    idleRun(Number(second), third ?? "always").catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
    return;
  }
  if (first === "--idle") return idle(Number(second ?? 100_000));
  const n = Number(first ?? 100_000);
  if (!Number.isInteger(n) || n < 10_000) throw new Error(`Invalid name count "${process.argv[2]}"`);
  const big = memory(n);
  console.log(`Zone with ${n} names (${HOSTS} hosts, ${NETWORKS} networks), Node ${process.version}`);
  console.log(
    `  heap: ${big.perName.toFixed(0)} bytes/name, ${mb(big.perName * n)} in all; ` +
      `process RSS now ${mb(process.memoryUsage().rss)}`,
  );
  lookups(n, big);
  changes(big.zone, n);
  snapshot(big.zone, n, big.perName);
}

main();
