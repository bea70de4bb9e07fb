/**
 * bench:scale: weave's control plane at cluster size, on one machine.
 *
 *   npm run bench:scale -- HOSTS CONTAINERS_PER_HOST NETWORKS CHANGES_PER_S SECONDS [MIX]
 *   (defaults 100 100 10 20 60 mixed; needs root, dockerd, etcd and busybox: scripts/test.sh installs them)
 *
 * One real weave host (a test-harness host with its own dockerd) joins an etcd on the harness's
 * underlay and creates NETWORKS weave networks. The simulator (bench/scale-sim.ts, in the switch's
 * namespace) writes HOSTS synthetic hosts with CONTAINERS_PER_HOST containers each into etcd, with
 * weave's own record code, waits for the real host to program them, then churns at CHANGES_PER_S
 * for SECONDS: containers started and stopped, hosts joining, hosts dying by lease expiry (MIX
 * `mixed`: 80 % containers, 10 % joins, 10 % deaths), or containers only (MIX `containers`).
 * Probes (bench/scale-probe.ts) in the real host's namespace and in one of its containers time each
 * change to its effect: FDB and neighbour entries present or gone, weaveDNS answering.
 *
 * Printed: convergence p50/p99 (kernel and DNS), the daemon's RSS (with its DNS workers) after the
 * load and its CPU per change and in % of one core, etcd bytes received per second by the host,
 * kernel changes per cluster change (1 FDB + 1 neighbour entry is the minimum: no full re-program),
 * and the time a restarted daemon takes to program the whole cluster again from nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  createHost,
  createUnderlay,
  destroyAll,
  findExecutable,
  REPO_ROOT,
  run,
  startEtcd,
  TEST_IMAGE,
  type Host,
} from "../test/e2e/harness/index.js";
import { quantile } from "./stats.js";
import type { Expectation, ProbeResult } from "./scale-probe.js";
import type { SimConfig, SimEvent } from "./scale-sim.js";
import { kernelEntries, processTree, rxBytes, type Usage } from "./scale-host.js";

const [HOSTS = 100, PER_HOST = 100, NETWORKS = 10, RATE = 20, SECONDS = 60] = process.argv
  .slice(2, 7)
  .map((a) => Number.parseInt(a, 10));
const MIX = process.argv[7] ?? "mixed";
if (MIX !== "mixed" && MIX !== "containers") throw new Error(`MIX must be mixed or containers, not "${MIX}"`);

interface Probe {
  child: ChildProcess;
  expect: (e: Expectation) => void;
  results: Map<number, number>;
  lines: (listener: (v: Record<string, unknown>) => void) => void;
}

function probe(argv: string[]): Probe {
  const child = spawn(argv[0] ?? "", argv.slice(1), { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "inherit"] });
  const results = new Map<number, number>();
  const listeners: ((v: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const v = JSON.parse(line) as Record<string, unknown>;
    if (typeof v["id"] === "number") results.set(v["id"], (v as unknown as ProbeResult).ms);
    for (const l of listeners) l(v);
  });
  return {
    child,
    results,
    expect: (e) => child.stdin.write(`${JSON.stringify(e)}\n`),
    lines: (l) => listeners.push(l),
  };
}

const NODE = [process.execPath, "--import", "tsx"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sh(host: Host, cmd: string): Promise<string> {
  const res = await host.sh(cmd, { timeoutMs: 120_000 });
  if (res.code !== 0) throw new Error(`${cmd}: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

/**
 * Waits until the host's FDB holds `want` remote entries; returns the ms it took. Every poll dumps
 * the whole FDB, and a dump holds the kernel's RTNL lock against the daemon's writes: at 100,000
 * entries polling itself slows what it measures, hence `everyMs`.
 */
async function untilEntries(host: Host, want: number, limitMs: number, everyMs = 250): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const n = (await kernelEntries(host.name)).fdb;
    if (n >= want) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) throw new Error(`only ${n} of ${want} FDB entries after ${limitMs} ms`);
    await sleep(everyMs);
  }
}

/** The daemon's "transports programmed" log lines so far (one per start). */
function programmedLines(host: Host): number {
  try {
    return readFileSync(host.rootPath("/var/log/weave.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes('"transports programmed"')).length;
  } catch {
    return 0;
  }
}

/**
 * Waits, reading only the daemon's log (no kernel dump), for a start's first pass to report itself
 * programmed: the restart is then timed without the measurement holding the kernel's lock.
 */
async function untilProgrammed(host: Host, before: number, limitMs: number): Promise<void> {
  const t0 = Date.now();
  while (programmedLines(host) <= before) {
    if (Date.now() - t0 > limitMs) throw new Error(`no "transports programmed" log line after ${limitMs} ms`);
    await sleep(100);
  }
}

function launchArgs(host: Host, etcdUrl: string): string[] {
  return ["launch", "--store", etcdUrl, "--advertise-addr", host.address, "--name", host.name];
}

/**
 * WEAVE_BENCH_HEAPSNAPSHOT=DIR (opt-in, for finding what holds the memory): the daemon runs with
 * --heapsnapshot-signal=SIGUSR2, and once synced (and again after the restart) writes a heap
 * snapshot that is copied to DIR with the daemon's /proc smaps_rollup.
 */
const SNAPSHOT_DIR = process.env["WEAVE_BENCH_HEAPSNAPSHOT"];
const HOST_SNAPSHOT_DIR = "/run/weave-heap";

function launchEnv(): Record<string, string> {
  return SNAPSHOT_DIR
    ? {
        NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HOST_SNAPSHOT_DIR} --import=${join(REPO_ROOT, "bench/mem-stats.mjs")}`,
        WEAVE_MEM_STATS_DIR: HOST_SNAPSHOT_DIR,
      }
    : {};
}

async function heapSnapshot(host: Host, label: string): Promise<void> {
  if (!SNAPSHOT_DIR) return;
  await sleep(5_000);
  const pid = Number.parseInt(readFileSync(host.rootPath("/run/weave/weave.pid"), "utf8"), 10);
  const dir = host.rootPath(HOST_SNAPSHOT_DIR);
  const had = new Set(readdirSync(dir));
  const smaps = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const stats = readFileSync(join(dir, `mem-${pid}.json`), "utf8");
  process.kill(pid, "SIGUSR2");
  for (let last = -1; ;) {
    await sleep(2_000);
    const file = readdirSync(dir).find((f) => !had.has(f) && f.endsWith(".heapsnapshot"));
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === last) {
      await sleep(2_000);
      copyFileSync(join(dir, file), join(SNAPSHOT_DIR, `${label}.heapsnapshot`));
      writeFileSync(join(SNAPSHOT_DIR, `${label}.smaps`), smaps);
      writeFileSync(join(SNAPSHOT_DIR, `${label}.mem.json`), stats);
      console.error(`bench:scale: heap snapshot ${label} (${mb(size)} MB) in ${SNAPSHOT_DIR}`);
      return;
    }
    last = size;
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error("bench:scale needs root (it starts its own dockerd and etcd)");
  const missing = ["etcd", "dockerd", "busybox", "bridge", "nsenter"].filter((b) => !findExecutable(b));
  if (missing.length > 0)
    throw new Error(`bench:scale needs ${missing.join(", ")} (scripts/test.sh installs them)`);
  const underlay = await createUnderlay();
  const host = await createHost({ name: "scale" });
  await underlay.attach(host);
  const etcd = await startEtcd(underlay);
  await host.loadTestImage();
  if (SNAPSHOT_DIR) {
    mkdirSync(SNAPSHOT_DIR, { recursive: true });
    mkdirSync(host.rootPath(HOST_SNAPSHOT_DIR), { recursive: true });
  }
  const launched = await host.weave(launchArgs(host, etcd.url), { timeoutMs: 60_000, env: launchEnv() });
  if (launched.code !== 0) throw new Error(`weave launch: ${launched.stderr}`);
  const nets = Array.from({ length: NETWORKS }, (_, i) => `sc${i}`);
  for (const [i, n] of nets.entries()) {
    await sh(
      host,
      `docker network create -d weave --ipam-driver weave --subnet 10.${64 + 4 * i}.0.0/14 ${n}`,
    );
    await sh(host, `docker run -d --net ${n} --name ${n}-c ${TEST_IMAGE} sleep 36000`);
  }
  const pid = await sh(host, `docker inspect -f '{{.State.Pid}}' sc0-c`);
  const gw = await sh(
    host,
    `docker inspect -f '{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}' sc0-c`,
  );
  const kernel = probe(["ip", "netns", "exec", host.name, ...NODE, "bench/scale-probe.ts", "kernel"]);
  const dns = probe(["nsenter", "-t", pid, "-n", ...NODE, "bench/scale-probe.ts", "dns", gw]);
  const config: SimConfig = {
    etcd: etcd.url.replace(/^etcd:/, "http:"),
    hosts: HOSTS,
    perHost: PER_HOST,
    networks: nets,
    changesPerS: RATE,
    seconds: SECONDS,
    hostChurn: MIX === "mixed",
  };
  const sim = spawn(
    "ip",
    ["netns", "exec", underlay.name, ...NODE, "bench/scale-sim.ts", JSON.stringify(config)],
    {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const report = await drive(host, sim, kernel, dns, etcd.url);
  sim.stdin.end();
  for (const c of [kernel.child, dns.child, sim]) c.kill();
  await destroyAll();
  console.log(report.join("\n"));
}

interface Tally {
  kernel: number[];
  dns: number[];
  lost: number;
  /** Endpoints the churn added or removed (a host joining or dying counts all of its containers). */
  endpoints: number;
}

/** Runs the phases (populate, converge, churn, restart) and returns the report's lines. */
async function drive(
  host: Host,
  sim: ChildProcess,
  kernel: Probe,
  dns: Probe,
  etcdUrl: string,
): Promise<string[]> {
  const events: SimEvent[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: sim.stdout! }).on("line", (line) => {
    events.push(JSON.parse(line) as SimEvent);
    wake?.();
  });
  const next = async (kind: SimEvent["kind"]): Promise<SimEvent> => {
    for (;;) {
      const found = events.find((e) => e.kind === kind);
      if (found) return found;
      if (sim.exitCode !== null) throw new Error(`the simulator exited ${sim.exitCode}`);
      await new Promise<void>((r) => (wake = r));
    }
  };
  const populated = await next("populated");
  if (populated.kind !== "populated") throw new Error("unreachable");
  const lines = [
    `bench:scale: ${HOSTS} simulated hosts x ${PER_HOST} containers on ${NETWORKS} networks (+1 real host), ` +
      `${RATE} changes/s for ${SECONDS} s`,
    `  populate: ${populated.endpoints} endpoints written in ${populated.ms} ms`,
  ];
  const syncMs = await untilEntries(host, populated.endpoints, 600_000, 1_000);
  lines.push(
    `  first sync: all ${populated.endpoints} remote endpoints in the FDB ${syncMs} ms after the last write`,
  );
  const before = await sample(host);
  await heapSnapshot(host, "synced");
  const changesBefore = await kernelCount(kernel);
  sim.stdin!.write("go\n");
  const tally = await churn(events, kernel, dns, () => next("done"));
  const after = await sample(host);
  const changesAfter = await kernelCount(kernel);
  const done = events.find((e) => e.kind === "done");
  const changes = done?.kind === "done" ? done.changes : 0;
  const seconds = (after.at - before.at) / 1000;
  const cpuS = after.cpuS - before.cpuS;
  const ms = (v: number[], q: number) => (v.length ? `${Math.round(quantile(v, q))}` : "-");
  lines.push(
    `  convergence (record written -> effect on the real host), ${tally.kernel.length} kernel / ${tally.dns.length} DNS samples, ${tally.lost} not seen within 30 s:`,
    `    FDB+neighbour entries: p50 ${ms(tally.kernel, 0.5)} ms, p99 ${ms(tally.kernel, 0.99)} ms, max ${ms(tally.kernel, 1)} ms`,
    `    weaveDNS answer:       p50 ${ms(tally.dns, 0.5)} ms, p99 ${ms(tally.dns, 0.99)} ms, max ${ms(tally.dns, 1)} ms`,
    `  daemon + DNS workers (${after.pids} processes): RSS ${mb(after.rss)} MB after the churn (${mb(before.rss)} MB before)`,
    `    by process: ${byName(after.rssByName)} after the churn (${byName(before.rssByName)} before)`,
    `  CPU during the churn: ${((100 * cpuS) / seconds).toFixed(1)} % of one core, ${((1000 * cpuS) / Math.max(1, changes)).toFixed(1)} ms per change`,
    `    by process: ${cpuShares(before.cpuByName, after.cpuByName, seconds)}`,
    `  etcd -> host: ${Math.round((after.rx - before.rx) / seconds)} bytes/s received on the underlay during the churn`,
    `  kernel changes: ${changesAfter.count - changesBefore.count} FDB/neighbour events ` +
      `(${changesAfter.deletes - changesBefore.deletes} deletions) for ${changes} cluster changes ` +
      `(${tally.endpoints} endpoints added or removed)`,
  );
  // The probes' monitors would parse every one of the restart's 200,000 kernel events on the same
  // two cores as the daemon: a real host runs no such thing, so they end before the restart.
  for (const c of [kernel.child, dns.child]) c.kill();
  lines.push(await restart(host, etcdUrl));
  return lines;
}

async function churn(
  events: SimEvent[],
  kernel: Probe,
  dns: Probe,
  finished: () => Promise<SimEvent>,
): Promise<Tally> {
  let id = 0;
  let seen = 0;
  const kernelIds: number[] = [];
  const dnsIds: number[] = [];
  let endpoints = 0;
  const handle = (e: SimEvent) => {
    if (e.kind === "die") endpoints += e.containers.length;
    const cs = e.kind === "add" || e.kind === "remove" ? [e.c] : e.kind === "join" ? e.containers : [];
    if (cs.length === 0) return;
    endpoints += cs.length;
    const present = e.kind !== "remove";
    kernelIds.push(++id);
    kernel.expect({ id, t: e.t, present, macs: cs.map((c) => c.mac), ips: cs.map((c) => c.ip) });
    const named = cs.find((c) => c.network === "sc0");
    if (named) {
      dnsIds.push(++id);
      dns.expect({ id, t: e.t, present, name: `${named.name}.weave.local`, ip: named.ip });
    }
  };
  const pump = setInterval(() => {
    while (seen < events.length) handle(events[seen++] as SimEvent);
  }, 20);
  await finished();
  await sleep(100);
  clearInterval(pump);
  while (seen < events.length) handle(events[seen++] as SimEvent);
  const all = [...kernelIds, ...dnsIds];
  for (let waited = 0; waited < 35_000; waited += 250) {
    if (all.every((i) => kernel.results.has(i) || dns.results.has(i))) break;
    await sleep(250);
  }
  const got = (p: Probe, ids: number[]) => ids.map((i) => p.results.get(i) ?? -1);
  const k = got(kernel, kernelIds);
  const d = got(dns, dnsIds);
  return {
    kernel: k.filter((v) => v >= 0),
    dns: d.filter((v) => v >= 0),
    lost: [...k, ...d].filter((v) => v < 0).length,
    endpoints,
  };
}

async function kernelCount(kernel: Probe): Promise<{ count: number; deletes: number }> {
  const got = new Promise<{ count: number; deletes: number }>((resolve) =>
    kernel.lines(
      (v) =>
        typeof v["count"] === "number" &&
        resolve({ count: v["count"], deletes: typeof v["deletes"] === "number" ? v["deletes"] : 0 }),
    ),
  );
  kernel.child.stdin!.write("count\n");
  return got;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
/** The CPU of each process name between two samples, in % of one core, largest first. */
function cpuShares(before: Record<string, number>, after: Record<string, number>, seconds: number): string {
  return Object.entries(after)
    .map(([name, s]) => [name, (100 * (s - (before[name] ?? 0))) / seconds] as const)
    .filter(([, pct]) => pct >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, pct]) => `${name} ${pct.toFixed(1)} %`)
    .join(", ");
}

const byName = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([name, bytes]) => `${name} ${mb(bytes)} MB`)
    .join(", ");

async function sample(host: Host): Promise<Usage & { rx: number; at: number }> {
  const pids = readdirSync(host.rootPath("/run/weave"))
    .filter((f) => f.endsWith(".pid"))
    .map((f) => Number.parseInt(readFileSync(join(host.rootPath("/run/weave"), f), "utf8"), 10));
  const usage = processTree(pids);
  return { ...usage, rx: await rxBytes(host.name, host.links[0]?.ifname ?? ""), at: Date.now() };
}

/** How long a simulated host that died keeps its records (its lease's TTL, scale-sim.ts), plus a margin. */
const DEAD_RECORDS_MS = 17_000;

/**
 * Stops weave, removes its VXLAN devices, launches it again: time until the FDB is whole again.
 * Waits first for the records of the hosts that died in the churn to expire, so that the entries
 * counted before the restart are the ones that should be there after it.
 */
async function restart(host: Host, etcdUrl: string): Promise<string> {
  await sleep(DEAD_RECORDS_MS);
  const want = (await kernelEntries(host.name)).fdb;
  const stopped = await host.weave(["stop"], { timeoutMs: 60_000 });
  if (stopped.code !== 0) return `  restart: weave stop failed: ${stopped.stderr.trim()}`;
  await run([
    "sh",
    "-c",
    `ip -n ${host.name} -o link show type vxlan | awk -F': ' '{print $2}' | cut -d@ -f1 | xargs -r -n1 ip -n ${host.name} link del`,
  ]);
  const logged = programmedLines(host);
  const t0 = Date.now();
  const launched = await host.weave(launchArgs(host, etcdUrl), { timeoutMs: 120_000, env: launchEnv() });
  if (launched.code !== 0) return `  restart: weave launch failed: ${launched.stderr.trim()}`;
  const launchMs = Date.now() - t0;
  // Entries counted by the first dump after the daemon's log line were programmed when it logged
  // it (the dump itself takes about a second at 100,000 entries); otherwise, when a dump saw them.
  const waited = await untilProgrammed(host, logged, 120_000)
    .then(async () => {
      const loggedMs = Date.now() - t0;
      if ((await kernelEntries(host.name)).fdb >= want) return { ms: loggedMs, by: "the daemon's log line" };
      await untilEntries(host, want, 120_000, 1_000);
      return { ms: Date.now() - t0, by: "a dump" };
    })
    .catch((err: unknown) => String(err));
  if (typeof waited === "string") return `  restart: ${waited}`;
  const { ms, by } = waited;
  const after = await sample(host);
  await heapSnapshot(host, "restarted");
  return (
    `  restart with the cluster present: launch returned in ${launchMs} ms, all ${want} FDB entries programmed ` +
    `${ms} ms after launch (by ${by}); RSS then ${mb(after.rss)} MB (${byName(after.rssByName)})\n` +
    `    ${startBreakdown(host)}`
  );
}

/**
 * The daemon's own account of its last start (its info log "transports programmed"): the time from
 * its start to the first pass's end, and each transport's part of that pass.
 */
function startBreakdown(host: Host): string {
  let log = "";
  try {
    log = readFileSync(host.rootPath("/var/log/weave.log"), "utf8");
  } catch {
    return "start breakdown: no daemon log";
  }
  const line = log
    .split("\n")
    .filter((l) => l.includes('"transports programmed"'))
    .pop();
  if (line === undefined) return 'start breakdown: no "transports programmed" log line';
  const warnings = new Map<string, number>();
  for (const l of log.split("\n").filter((x) => x.includes('"level":"warning"'))) {
    const w = JSON.parse(l) as { msg: string; error?: string };
    const text = `${w.msg}${w.error ? `: ${w.error.slice(0, 160)}` : ""}`;
    warnings.set(text, (warnings.get(text) ?? 0) + 1);
  }
  const warned = [...warnings].map(([w, n]) => `\n    warning (${n}x) ${w}`).join("");
  const f = JSON.parse(line) as { sinceStartMs: number; operations: number; ms: Record<string, number> };
  const parts = Object.entries(f.ms).map(([name, ms]) => `${name} ${ms} ms`);
  return (
    `start breakdown (daemon log): first pass ended ${f.sinceStartMs} ms after the cluster part started, ` +
    `listing and view ${f.sinceStartMs - Object.values(f.ms).reduce((a, b) => a + b, 0)} ms, ` +
    `the pass (${f.operations} operations): ${parts.join(", ")}${warned}`
  );
}

main().catch(async (err: unknown) => {
  console.error(`bench:scale: ${err instanceof Error ? err.message : String(err)}`);
  await destroyAll().catch(() => undefined);
  process.exit(1);
});
