/**
 * Measuring paths for bench:overlay: iperf3 TCP throughput and ping RTT between two network
 * namespaces, in rounds interleaved across the paths of one phase (so that a noisy moment of the
 * machine falls on every path alike), and the report lines with ratios and targets.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { run } from "../test/e2e/harness/index.js";
import { quantile, ratio } from "./stats.js";

/** One end of a measured path: a network namespace, as a path `nsenter --net=` accepts, and its address. */
export interface Endpoint {
  net: string;
  ip: string;
}

export interface BenchPath {
  name: string;
  client: Endpoint;
  server: Endpoint;
}

export interface PathResult {
  /** MTU of the client's interface on the path. */
  mtu: number;
  bps: number[];
  rtt: number[];
  lost: number;
  /** Why the path could not be measured (to the end), if it could not. */
  error?: string;
}

/** How much to measure: iperf3 seconds per round, rounds, pings per round. */
export interface MeasureOptions {
  rounds: number;
  seconds: number;
  pings: number;
}

const IPERF_PORT = 5201;
/** iperf3 servers this run started, for the exit hook (SIGINT, crash). */
const servers = new Set<ChildProcess>();

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `argv` in network namespace `net`; resolves with the output whatever the exit code. */
export function inNet(net: string, argv: readonly string[], timeoutMs = 60_000) {
  return run(["nsenter", `--net=${net}`, ...argv], { timeoutMs });
}

/** Runs a command and throws with its stderr unless it exits 0. */
export async function must(argv: readonly string[]): Promise<string> {
  const res = await run(argv, { timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`${argv.join(" ")} failed: ${(res.stderr || res.stdout).trim()}`);
  return res.stdout;
}

/** Runs a command given as words separated by single spaces (none of ours contains a space). */
export function cmd(text: string): Promise<string> {
  return must(text.split(" "));
}

/** Starts `iperf3 -s` in `net` and resolves once it listens. Stopped by stopServers (by its PID). */
async function startIperfServer(net: string): Promise<void> {
  // nsenter with only --net execs iperf3 without forking: the child's PID is iperf3's.
  const child = spawn("nsenter", [`--net=${net}`, "iperf3", "-s", "--forceflush", "-p", String(IPERF_PORT)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  servers.add(child);
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + 10_000;
  while (!out.includes("Server listening")) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline)
      throw new Error(`iperf3 -s in ${net} did not start: ${out.trim()}`);
    await sleep(20);
  }
  child.stdout.removeAllListeners("data").resume();
  child.stderr.removeAllListeners("data").resume();
}

/** Stops a child process this run started: SIGTERM, then SIGKILL after 3 s; resolves once it exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

/** Stops every iperf3 server this run started (SIGTERM, then SIGKILL after 3 s). */
export async function stopServers(): Promise<void> {
  for (const child of servers) {
    await stopChild(child);
    servers.delete(child);
  }
}

/** Exit hook: SIGKILL the iperf3 servers still running. */
export function killServersSync(): void {
  for (const child of servers) if (child.pid !== undefined && child.exitCode === null) child.kill("SIGKILL");
}

/** TCP throughput from client to server, in bit/s as the receiver counted it (first second omitted). */
async function throughput(path: BenchPath, seconds: number): Promise<number> {
  const argv = [
    "iperf3",
    "-c",
    path.server.ip,
    "-p",
    String(IPERF_PORT),
    "-t",
    String(seconds),
    "-O",
    "1",
    "-J",
  ];
  const res = await inNet(path.client.net, argv, (seconds + 60) * 1000);
  let report: { error?: string; end?: { sum_received?: { bits_per_second?: number } } } = {};
  try {
    report = JSON.parse(res.stdout) as typeof report;
  } catch {
    // reported below with stderr
  }
  const bps = report.end?.sum_received?.bits_per_second;
  if (res.code !== 0 || bps === undefined)
    throw new Error(`iperf3 over ${path.name} failed: ${report.error ?? res.stderr.trim()}`);
  return bps;
}

/** Per-packet RTTs (ms) of `count` pings at 10 ms intervals, and how many were lost. */
export async function pings(path: BenchPath, count: number): Promise<{ rtt: number[]; lost: number }> {
  const argv = ["busybox", "ping", "-c", String(count), "-i", "0.01", "-W", "2", path.server.ip];
  const res = await inNet(path.client.net, argv);
  const rtt = [...res.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtt.length === 0)
    throw new Error(`ping over ${path.name} failed: ${(res.stderr || res.stdout).trim()}`);
  return { rtt, lost: count - rtt.length };
}

/** MTU of the interface that holds `ip` in namespace `net` (0 when not found), to show paths compare fairly. */
async function mtuOf(end: Endpoint): Promise<number> {
  const addrs = await inNet(end.net, ["ip", "-o", "-4", "addr", "show"]);
  const line = addrs.stdout.split("\n").find((l) => l.includes(` inet ${end.ip}/`));
  const dev = line?.split(/\s+/)[1];
  if (dev === undefined) return 0;
  const link = await inNet(end.net, ["ip", "-o", "link", "show", "dev", dev]);
  return Number(/ mtu (\d+)/.exec(link.stdout)?.[1] ?? 0);
}

/**
 * Measures `paths` in `opts.rounds` rounds, rotating their order each round; pings in 10 slices per
 * round taken from each path in turn. A path that fails keeps its error and is left out from then
 * on; the others go on. Starts and stops the iperf3 servers it needs.
 */
export async function measure(
  paths: readonly BenchPath[],
  opts: MeasureOptions,
): Promise<Map<BenchPath, PathResult>> {
  const results = new Map<BenchPath, PathResult>();
  const serving = new Set<string>();
  for (const p of paths) {
    const r: PathResult = { mtu: 0, bps: [], rtt: [], lost: 0 };
    results.set(p, r);
    try {
      r.mtu = await mtuOf(p.client);
      if (!serving.has(p.server.net)) await startIperfServer(p.server.net);
      serving.add(p.server.net);
      await pings(p, 3); // warm-up: ARP, caches, handshakes
    } catch (e) {
      r.error = errText(e);
    }
  }
  const live = (p: BenchPath) => results.get(p)?.error === undefined;
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const order = paths.map((_, i) => paths[(i + round) % paths.length] as BenchPath).filter(live);
      for (const p of order) {
        const r = results.get(p) as PathResult;
        await throughput(p, opts.seconds).then(
          (bps) => r.bps.push(bps),
          (e: unknown) => (r.error = errText(e)),
        );
      }
      const slice = Math.max(1, Math.ceil(opts.pings / 10));
      for (let done = 0; done < opts.pings; done += slice) {
        for (const p of order.filter(live)) {
          const r = results.get(p) as PathResult;
          await pings(p, Math.min(slice, opts.pings - done)).then(
            (ping) => {
              r.rtt.push(...ping.rtt);
              r.lost += ping.lost;
            },
            (e: unknown) => (r.error = errText(e)),
          );
        }
      }
    }
  } finally {
    await stopServers();
  }
  return results;
}

const gbit = (bps: number): string => `${(bps / 1e9).toFixed(2)} Gbit/s`;
const ms3 = (ms: number): string => `${ms.toFixed(3)} ms`;
export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** One line per path: MTU, throughput per round, RTT statistics, losses; or why it failed. */
export function row(name: string, r: PathResult): string {
  if (r.error !== undefined) return `  ${name.padEnd(48)} FAILED: ${r.error}`;
  return (
    `  ${`${name}, MTU ${r.mtu}`.padEnd(48)} throughput ${gbit(mean(r.bps)).padStart(12)} (rounds: ${r.bps.map((b) => (b / 1e9).toFixed(2)).join(", ")})` +
    `   RTT avg ${ms3(mean(r.rtt))}  p50 ${ms3(quantile(r.rtt, 0.5))}  p99 ${ms3(quantile(r.rtt, 0.99))}  lost ${r.lost}/${r.rtt.length + r.lost}`
  );
}

/** Targets of one comparison: throughput ratio at least, RTT ratios at most (all optional). */
export interface Targets {
  throughput?: number;
  rttAvg?: number;
  rttP50?: number;
}

/** `a / b` ratios (throughput, RTT avg, p50, p99), with the targets given and whether they are met. */
export function compare(
  label: string,
  a: PathResult | undefined,
  b: PathResult | undefined,
  t: Targets = {},
): string {
  if (
    a === undefined ||
    b === undefined ||
    a.error !== undefined ||
    b.error !== undefined ||
    a.bps.length === 0 ||
    b.bps.length === 0
  )
    return `  ${label}: not measured`;
  const met = (ok: boolean) => (ok ? "met" : "NOT met");
  const tp = ratio(mean(a.bps), mean(b.bps));
  const avg = ratio(mean(a.rtt), mean(b.rtt));
  const p50 = ratio(quantile(a.rtt, 0.5), quantile(b.rtt, 0.5));
  const p99 = ratio(quantile(a.rtt, 0.99), quantile(b.rtt, 0.99));
  const parts = [
    `throughput ${tp}${t.throughput === undefined ? "" : ` (target >= ${t.throughput}: ${met(Number(tp) >= t.throughput)})`}`,
    `RTT avg ${avg}${t.rttAvg === undefined ? "" : ` (target <= ${t.rttAvg}: ${met(Number(avg) <= t.rttAvg)})`}`,
    `RTT p50 ${p50}${t.rttP50 === undefined ? "" : ` (target <= ${t.rttP50}: ${met(Number(p50) <= t.rttP50)})`}`,
    `RTT p99 ${p99}`,
  ];
  return `  ${label}: ${parts.join(", ")}`;
}
