/**
 * bench:dns — weaveDNS against dnsmasq, same names, same machine, same run.
 *
 * Both serve the same 1,000 names (`hostN.weave.local`, A + AAAA): weaveDNS as a child process
 * (bench/dns-server.ts, with WORKERS extra UDP worker processes) on 127.0.53.1, dnsmasq with an
 * addn-hosts file and `local=/weave.local/` on 127.0.54.1. dnsperf (sharing the cores) sends
 * 20,000 random `hostN.weave.local A` queries:
 *  1. maximum QPS: `dnsperf -c 1 -T 1 -q 100 -l SECONDS`, ROUNDS rounds, alternating which
 *     server goes first;
 *  2. latency at a fixed 5,000 QPS (`-Q 5000 -v`, per-query latencies): p50 and p99.
 * It prints the ratios weave/dnsmasq. Targets: QPS ≥ 1.0× dnsmasq, p99 ≤ dnsmasq's.
 * For reference it measures the same for "node-floor" (bench/dns-floor.ts): a Node UDP server
 * that sends one fixed reply without looking at the query, i.e. what Node's I/O path alone costs.
 *
 * Usage: npm run bench:dns [-- WORKERS [SECONDS [ROUNDS]]]   (defaults 1, 10, 2)
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchHost } from "./dns-data.js";
import { quantile, ratio } from "./stats.js";

const WORKERS = Number(process.argv[2] ?? 1);
const SECONDS = Number(process.argv[3] ?? 10);
const ROUNDS = Number(process.argv[4] ?? 2);
const NAMES = 1000;
const QUERIES = 20_000;
const WEAVE = { address: "127.0.53.1", port: 20_000 + Math.floor(Math.random() * 20_000) };
const DNSMASQ = { address: "127.0.54.1", port: WEAVE.port + 1 };
const FLOOR = { address: "127.0.55.1", port: WEAVE.port + 2 };
type Target = typeof WEAVE;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function dig(t: Target, name: string): string {
  return execFileSync("dig", [`@${t.address}`, "-p", String(t.port), name, "+short", "+time=1", "+tries=1"], {
    encoding: "utf8",
  }).trim();
}

async function waitAnswering(t: Target, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    try {
      if (dig(t, "host1.weave.local") !== "") return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${what} does not answer on ${t.address}:${t.port}`);
}

/** CPU seconds used so far by `pid` and all its descendants (from /proc). */
function cpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // process went away
    }
  }
  let ticks = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop() as number;
    ticks += stats.get(p)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === p) todo.push(child);
  }
  return ticks / 100; // USER_HZ
}

interface PerfResult {
  qps: number;
  lost: number;
  cpu: number;
  latencies: number[];
  errors: number;
}

function dnsperf(t: Target, file: string, extra: string[], pid: number): Promise<PerfResult> {
  const args = [
    "-s",
    t.address,
    "-p",
    String(t.port),
    "-d",
    file,
    "-c",
    "1",
    "-T",
    "1",
    "-q",
    "100",
    ...extra,
  ];
  return new Promise((resolve, reject) => {
    const cpu0 = cpuSeconds(pid);
    const child = spawn("dnsperf", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const cpu = cpuSeconds(pid) - cpu0;
      if (code !== 0)
        return reject(new Error(`dnsperf ${args.join(" ")} failed (${code}): ${out.slice(-500)}`));
      const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const latencies: number[] = [];
      let errors = 0;
      for (const line of out.split("\n")) {
        const m = /^> (\S+) .* ([\d.]+)$/.exec(line);
        if (!m) continue;
        if (m[1] !== "NOERROR") errors++;
        latencies.push(Number(m[2]) * 1000);
      }
      resolve({ qps, lost, cpu, latencies, errors });
    });
  });
}

const fmtQps = (n: number): string => Math.round(n).toLocaleString("en-US");
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-dns-"));
  chmodSync(dir, 0o755); // dnsmasq started as root reads its hosts file as "nobody"
  const children: ChildProcess[] = [];
  try {
    const hosts: string[] = [];
    for (let i = 0; i < NAMES; i++) {
      const h = benchHost(i);
      hosts.push(`${h.ipv4} ${h.name}.weave.local`, `${h.ipv6} ${h.name}.weave.local`);
    }
    writeFileSync(join(dir, "hosts"), hosts.join("\n") + "\n");
    const lines: string[] = [];
    for (let i = 0; i < QUERIES; i++) lines.push(`host${Math.floor(Math.random() * NAMES)}.weave.local A`);
    const queries = join(dir, "queries.txt");
    writeFileSync(queries, lines.join("\n") + "\n");

    const weave = spawn(
      process.execPath,
      [
        ...process.execArgv,
        "bench/dns-server.ts",
        WEAVE.address,
        String(WEAVE.port),
        String(WORKERS),
        String(NAMES),
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    children.push(weave);
    const dnsmasq = spawn(
      "dnsmasq",
      [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        `--addn-hosts=${join(dir, "hosts")}`,
        "--local=/weave.local/",
        `--listen-address=${DNSMASQ.address}`,
        "--bind-interfaces",
        `--port=${DNSMASQ.port}`,
        "--log-facility=-",
      ],
      { stdio: ["ignore", "ignore", "ignore"] },
    );
    children.push(dnsmasq);
    const floor = spawn(
      process.execPath,
      [...process.execArgv, "bench/dns-floor.ts", FLOOR.address, String(FLOOR.port)],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    children.push(floor);
    await waitAnswering(FLOOR, floor, "node-floor");
    await waitAnswering(WEAVE, weave, "weaveDNS");
    await waitAnswering(DNSMASQ, dnsmasq, "dnsmasq");
    const expected = benchHost(1).ipv4;
    for (const [t, what] of [
      [WEAVE, "weaveDNS"],
      [DNSMASQ, "dnsmasq"],
    ] as const) {
      if (dig(t, "host1.weave.local") !== expected) throw new Error(`${what} gives a wrong answer for host1`);
    }
    const pids = {
      weave: weave.pid as number,
      dnsmasq: dnsmasq.pid as number,
      "node-floor": floor.pid as number,
    };
    const targets = { weave: WEAVE, dnsmasq: DNSMASQ, "node-floor": FLOOR };
    type Kind = keyof typeof targets;

    const kinds = ["weave", "dnsmasq", "node-floor"] as const;
    for (const kind of kinds) await dnsperf(targets[kind], queries, ["-l", "2"], pids[kind]); // warm-up
    const max: Record<Kind, PerfResult[]> = { weave: [], dnsmasq: [], "node-floor": [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order: Kind[] =
        r % 2 === 0 ? ["weave", "dnsmasq", "node-floor"] : ["node-floor", "dnsmasq", "weave"];
      for (const kind of order) {
        max[kind].push(await dnsperf(targets[kind], queries, ["-l", String(SECONDS)], pids[kind]));
      }
    }
    const fixed: Record<Kind, PerfResult[]> = { weave: [], dnsmasq: [], "node-floor": [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order: Kind[] =
        r % 2 === 0 ? ["node-floor", "dnsmasq", "weave"] : ["weave", "dnsmasq", "node-floor"];
      for (const kind of order) {
        fixed[kind].push(
          await dnsperf(targets[kind], queries, ["-l", String(SECONDS), "-Q", "5000", "-v"], pids[kind]),
        );
      }
    }

    const qps = (k: Kind): number => mean(max[k].map((m) => m.qps));
    const lat = (k: Kind): number[] => fixed[k].flatMap((f) => f.latencies);
    const p = (k: Kind, q: number): number => quantile(lat(k), q);
    console.log(
      `bench:dns: ${NAMES} names, ${QUERIES} random A queries, dnsperf -c 1 -T 1 -q 100, ${SECONDS} s runs, ${ROUNDS} rounds; ` +
        `weaveDNS = main process + ${WORKERS} UDP worker(s); dnsmasq 1 process`,
    );
    for (const k of kinds) {
      const rounds = max[k].map(
        (m) => `${fmtQps(m.qps)} (lost ${m.lost}, cpu ${((100 * m.cpu) / SECONDS).toFixed(0)}%)`,
      );
      const errs = fixed[k].reduce((a, f) => a + f.errors + f.lost, 0);
      console.log(
        `  ${k.padEnd(10)} max QPS ${rounds.join(", ")}; mean ${fmtQps(qps(k))}` +
          `   at 5,000 qps: p50 ${p(k, 0.5).toFixed(3)} ms, p99 ${p(k, 0.99).toFixed(3)} ms (${lat(k).length} answers, ${errs} lost/errors)`,
      );
    }
    const qpsRatio = qps("weave") / qps("dnsmasq");
    const p99Ratio = p("weave", 0.99) / p("dnsmasq", 0.99);
    console.log(
      `  ratio weave/dnsmasq: max QPS ${qpsRatio.toFixed(3)}, p99 at 5k ${ratio(p("weave", 0.99), p("dnsmasq", 0.99))}`,
    );
    console.log(
      `  targets: QPS >= 1.0x dnsmasq ${qpsRatio >= 1 ? "met" : "NOT met"}; p99 <= dnsmasq ${p99Ratio <= 1 ? "met" : "NOT met"}`,
    );
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    await sleep(300);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:dns: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
