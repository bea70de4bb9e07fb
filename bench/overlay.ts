/**
 * bench:overlay — what does weave's multi-host overlay cost next to the kernel's bare VXLAN?
 *
 * Two throwaway Docker hosts (see test/e2e/harness) on one underlay with MTU 1400, an etcd on the
 * underlay, weave launched on each host with `--store`. In one run, interleaved round by round:
 *  1. weave: iperf3 TCP throughput (SECONDS per round, ROUNDS rounds) and ping RTT (PINGS pings at
 *     10 ms) between a container on host 1 and one on host 2, both on the default network `weave`;
 *  2. hand-made VXLAN: the same between the same two containers' namespaces, joined by a second
 *     interface, a bridge + VXLAN device on each host (learning off, static FDB and neighbour
 *     entries, MTU = underlay MTU - 50): the best a VXLAN overlay can do on this kernel (two new
 *     namespaces instead when weave cannot be set up);
 *  3. underlay: the same between the two hosts, without encapsulation.
 * Then DNS_RUNS times: the time from `docker run -d --name X --net weave` on host 2 until host 1
 * resolves X.weave.local through weaveDNS and pings the address from its container.
 * It prints ratios. Targets: weave throughput >= 0.95 x hand-made VXLAN, RTT <= 1.1 x, and
 * name-to-reachable p99 <= 1 s. The reference paths are measured and printed even when weave fails;
 * the script then prints "weave: FAILED: <reason>" and exits non-zero.
 *
 * Usage: sudo npm run bench:overlay [-- ROUNDS [SECONDS [DNS_RUNS [PINGS]]]]   (default 2 10 20 200)
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  type Host,
  TEST_IMAGE,
  createHost,
  createUnderlay,
  destroyAll,
  findExecutable,
  run,
  startEtcd,
} from "../test/e2e/harness/index.js";
import { fmtMs, quantile, ratio } from "./stats.js";

const ROUNDS = intArg(2, 2);
const SECONDS = intArg(3, 10);
const DNS_RUNS = intArg(4, 20);
const PINGS = intArg(5, 200);
const UNDERLAY_MTU = 1400;
const OVERLAY_MTU = UNDERLAY_MTU - 50; // VXLAN over IPv4: 50 bytes of headers
const IPERF_PORT = 5201;
/** The hand-made VXLAN: its own VNI and UDP port, apart from weave's (default 4789). */
const HM = { vni: 9999, port: 4799, bridge: "bvx0", vxlan: "vxb0", veth: "vbh0", subnet: "10.99.0" };
const FORWARD_RULE = `FORWARD -i ${HM.bridge} -o ${HM.bridge} -j ACCEPT`;
const TARGETS = { throughput: 0.95, rtt: 1.1, reachP99Ms: 1000 };

/** One end of a measured path: a network namespace, as a path `nsenter --net=` accepts, and its address. */
interface Endpoint {
  net: string;
  ip: string;
}

interface BenchPath {
  name: string;
  client: Endpoint;
  server: Endpoint;
}

interface PathResult {
  /** MTU of the client's interface on the path. */
  mtu: number;
  bps: number[];
  rtt: number[];
  lost: number;
}

/** Iperf3 servers and namespaces this run started, for the exit hook (SIGINT, crash). */
const servers = new Set<ChildProcess>();
const madeNetns = new Set<string>();

function intArg(index: number, fallback: number): number {
  const text = process.argv[index];
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`Invalid argument ${index - 1}: "${text}"`);
  return n;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `argv` in network namespace `net`; resolves with the output whatever the exit code. */
function inNet(net: string, argv: readonly string[], timeoutMs = 60_000) {
  return run(["nsenter", `--net=${net}`, ...argv], { timeoutMs });
}

/** Runs a command and throws with its stderr unless it exits 0. */
async function must(argv: readonly string[]): Promise<string> {
  const res = await run(argv, { timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`${argv.join(" ")} failed: ${(res.stderr || res.stdout).trim()}`);
  return res.stdout;
}

/** Starts `iperf3 -s` in `net` and resolves once it listens. Killed by stopServers (by its PID). */
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

async function stopServers(): Promise<void> {
  for (const child of servers) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    servers.delete(child);
  }
}

/** TCP throughput from client to server, in bit/s as the receiver counted it (first second omitted). */
async function throughput(path: BenchPath): Promise<number> {
  const argv = [
    "iperf3",
    "-c",
    path.server.ip,
    "-p",
    String(IPERF_PORT),
    "-t",
    String(SECONDS),
    "-O",
    "1",
    "-J",
  ];
  const res = await inNet(path.client.net, argv, (SECONDS + 60) * 1000);
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
async function pings(path: BenchPath, count: number): Promise<{ rtt: number[]; lost: number }> {
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

/** Runs a command given as words separated by single spaces (none of ours contains a space). */
function cmd(text: string): Promise<string> {
  return must(text.split(" "));
}

/**
 * Hand-made VXLAN between two namespaces, one behind each host; see the module note. With `into`
 * (the weave path's two container namespaces) its interfaces go into those same namespaces, as a
 * second interface `ethhm`, so that both paths start and end in the same place (a Docker container's
 * namespace, with Docker's own rules in it); otherwise into two new namespaces.
 */
async function setupHandmade(
  hosts: readonly [Host, Host],
  id: string,
  into?: readonly [Endpoint, Endpoint],
): Promise<BenchPath> {
  const macs = ["02:99:00:00:00:01", "02:99:00:00:00:02"];
  const { bridge, vxlan, veth, subnet } = HM;
  const nets: string[] = [];
  for (const [i, host] of hosts.entries()) {
    const j = 1 - i;
    const h = host.name;
    const mtu = `mtu ${OVERLAY_MTU}`;
    const target = into?.[i];
    const pid = target ? /^\/proc\/(\d+)\/ns\/net$/.exec(target.net)?.[1] : undefined;
    const ifname = pid ? "ethhm" : "eth0";
    let net: string;
    let peerNs: string;
    if (pid) {
      net = `/proc/${pid}/ns/net`;
      peerNs = pid;
    } else {
      const me = `wvbx-${id}-c${i + 1}`;
      madeNetns.add(me);
      await cmd(`ip netns add ${me}`);
      await cmd(`ip -n ${me} link set lo up`);
      net = `/run/netns/${me}`;
      peerNs = me;
    }
    nets.push(net);
    const inside = (text: string) => must(["nsenter", `--net=${net}`, ...text.split(" ")]);
    await cmd(`ip -n ${h} link add ${bridge} ${mtu} type bridge`);
    const dev = host.links[0]?.ifname ?? "eth0";
    await cmd(
      `ip -n ${h} link add ${vxlan} ${mtu} type vxlan id ${HM.vni} local ${host.address} dstport ${HM.port} nolearning dev ${dev}`,
    );
    await cmd(`ip -n ${h} link add ${veth} ${mtu} type veth peer name ${ifname} ${mtu} netns ${peerNs}`);
    for (const port of [vxlan, veth]) await cmd(`ip -n ${h} link set ${port} master ${bridge} up`);
    await cmd(`bridge -n ${h} link set dev ${vxlan} learning off`);
    await cmd(`ip -n ${h} link set ${bridge} up`);
    await inside(`ip link set ${ifname} address ${macs[i]} up`);
    await inside(`ip addr add ${subnet}.${i + 1}/24 dev ${ifname}`);
    // The remote container: a permanent neighbour entry in the container, a static FDB entry on the
    // bridge (no flooding) and one on the VXLAN device (the remote host's underlay address).
    const mac = macs[j] ?? "";
    await inside(`ip neigh replace ${subnet}.${j + 1} lladdr ${mac} dev ${ifname} nud permanent`);
    await cmd(`bridge -n ${h} fdb add ${mac} dev ${vxlan} master static`);
    await cmd(`bridge -n ${h} fdb add ${mac} dev ${vxlan} self dst ${hosts[j]?.address} permanent`);
    // dockerd's FORWARD policy is DROP and bridged frames pass iptables (br_netfilter): let ours through.
    await cmd(`nsenter --net=/run/netns/${h} iptables -I ${FORWARD_RULE}`);
  }
  return {
    name: into ? "hand-made VXLAN (same containers)" : "hand-made VXLAN",
    client: { net: nets[0] ?? "", ip: `${subnet}.1` },
    server: { net: nets[1] ?? "", ip: `${subnet}.2` },
  };
}

/** Deletes what setupHandmade made, by exact name; what is already gone is fine. */
async function removeHandmade(hosts: readonly Host[]): Promise<void> {
  for (const me of madeNetns) {
    await run(["ip", "netns", "delete", me]);
    madeNetns.delete(me);
  }
  for (const host of hosts) {
    for (const link of [HM.veth, HM.vxlan, HM.bridge])
      await run(["ip", "-n", host.name, "link", "del", link]);
    await run(`nsenter --net=/run/netns/${host.name} iptables -D ${FORWARD_RULE}`.split(" "));
  }
}

/** Exit hook: SIGKILL our iperf3 servers, delete our namespaces (the harness removes the hosts). */
function cleanupSync(): void {
  for (const child of servers) if (child.pid !== undefined && child.exitCode === null) child.kill("SIGKILL");
  for (const me of madeNetns) spawnSync("ip", ["netns", "delete", me], { stdio: "ignore" });
}

async function docker(host: Host, args: readonly string[]): Promise<string> {
  const res = await host.docker(args, { timeoutMs: 60_000 });
  if (res.code !== 0)
    throw new Error(`docker ${args.join(" ")} on ${host.name} failed: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

interface WeaveSetup {
  path: BenchPath;
  /** weaveDNS on host 1: the address of the `weave` bridge there. */
  dns: string;
}

/**
 * Launches multi-host weave on both hosts and starts a container on `weave` on each; resolves once
 * they ping each other. Throws with the reason when any step fails.
 */
async function setupWeave(hosts: readonly [Host, Host], store: string): Promise<WeaveSetup> {
  for (const h of hosts) {
    const args = ["launch", "--store", store, "--advertise-addr", h.address, "--name", h.name];
    const res = await h.weave(args, { timeoutMs: 60_000 });
    if (res.code !== 0)
      throw new Error(`weave ${args.join(" ")} on ${h.name} exited ${res.code}: ${res.stderr.trim()}`);
  }
  for (const h of hosts) {
    await until(`network "weave" on ${h.name}`, 30_000, async () => {
      return (await h.docker(["network", "inspect", "weave"])).code === 0;
    });
  }
  const ends: Endpoint[] = [];
  for (const [i, h] of hosts.entries()) {
    const name = `wb${i + 1}`;
    await docker(h, ["run", "-d", "--name", name, "--net", "weave", TEST_IMAGE, "sleep", "3600"]);
    const pid = await docker(h, ["inspect", "-f", "{{.State.Pid}}", name]);
    const ip = await docker(h, [
      "inspect",
      "-f",
      '{{(index .NetworkSettings.Networks "weave").IPAddress}}',
      name,
    ]);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip))
      throw new Error(`container ${name} on ${h.name} has no address on "weave"`);
    // Docker reports the PID in the machine's PID namespace (dockerd has none of its own here).
    ends.push({ net: `/proc/${pid}/ns/net`, ip });
  }
  const [client, server] = ends as [Endpoint, Endpoint];
  await until(`${client.ip} (host 1) to ping ${server.ip} (host 2) over weave`, 30_000, async () => {
    return (await inNet(client.net, ["busybox", "ping", "-c", "1", "-W", "1", server.ip])).code === 0;
  });
  const addr = await must(["ip", "-n", hosts[0].name, "-4", "-o", "addr", "show", "dev", "weave"]);
  const dns = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)?.[1];
  if (dns === undefined) throw new Error(`bridge "weave" on ${hosts[0].name} has no IPv4 address`);
  return { path: { name: "weave", client, server }, dns };
}

interface ReachResult {
  reachMs: number[];
  dockerRunMs: number[];
  failures: string[];
}

/**
 * DNS_RUNS times: `docker run -d` on host 2 until host 1's container reaches it by name. The
 * containers stay until the end, so no address is reused: a reused address with a new MAC would
 * measure the ageing of host 1's container's neighbour cache, not weave's propagation.
 */
async function nameToReachable(hosts: readonly [Host, Host], weave: WeaveSetup): Promise<ReachResult> {
  const [h1, h2] = hosts;
  const out: ReachResult = { reachMs: [], dockerRunMs: [], failures: [] };
  const names: string[] = [];
  for (let i = 0; i < DNS_RUNS; i++) {
    const name = `wvr${i}${randomBytes(2).toString("hex")}`;
    names.push(name);
    const t0 = performance.now();
    let runMs: number | undefined;
    let runFailed = false;
    const started = h2
      .docker(["run", "-d", "--name", name, "--net", "weave", TEST_IMAGE, "sleep", "3600"], {
        timeoutMs: 60_000,
      })
      .then((r) => {
        runMs = performance.now() - t0;
        runFailed = r.code !== 0;
        return r;
      });
    let reached: number | undefined;
    let last = "no answer yet";
    for (let next = t0; performance.now() - t0 < 30_000 && !runFailed; next += 20) {
      await sleep(Math.max(0, next - performance.now()));
      const dig = ["dig", "+short", "+time=1", "+tries=1", `@${weave.dns}`, `${name}.weave.local`];
      const answer = await inNet(`/run/netns/${h1.name}`, dig, 5000);
      const ip = answer.stdout.split("\n").find((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l.trim()));
      last = `dig: ${JSON.stringify((answer.stdout || answer.stderr).trim())}`;
      if (ip === undefined) continue;
      const ping = await inNet(
        weave.path.client.net,
        ["busybox", "ping", "-c", "1", "-W", "1", ip.trim()],
        5000,
      );
      last += `, ping ${ip.trim()}: exit ${ping.code}`;
      if (ping.code === 0) {
        reached = performance.now() - t0;
        break;
      }
    }
    const res = await started;
    if (res.code !== 0) out.failures.push(`docker run ${name}: ${res.stderr.trim()}`);
    else if (reached === undefined)
      out.failures.push(`${name}.weave.local not reachable from host 1 within 30 s (${last})`);
    else out.reachMs.push(reached);
    if (runMs !== undefined && res.code === 0) out.dockerRunMs.push(runMs);
  }
  await h2.docker(["rm", "-f", ...names], { timeoutMs: 120_000 });
  return out;
}

const gbit = (bps: number): string => `${(bps / 1e9).toFixed(2)} Gbit/s`;
const ms3 = (ms: number): string => `${ms.toFixed(3)} ms`;
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function row(name: string, r: PathResult): string {
  return (
    `  ${`${name}, MTU ${r.mtu}`.padEnd(34)} throughput ${gbit(mean(r.bps)).padStart(12)} (rounds: ${r.bps.map((b) => (b / 1e9).toFixed(2)).join(", ")})` +
    `   RTT avg ${ms3(mean(r.rtt))}  p50 ${ms3(quantile(r.rtt, 0.5))}  p99 ${ms3(quantile(r.rtt, 0.99))}  lost ${r.lost}/${r.rtt.length + r.lost}`
  );
}

function compare(label: string, a: PathResult, b: PathResult, targets: boolean): string {
  const t = ratio(mean(a.bps), mean(b.bps));
  const avg = ratio(mean(a.rtt), mean(b.rtt));
  const p50 = ratio(quantile(a.rtt, 0.5), quantile(b.rtt, 0.5));
  const p99 = ratio(quantile(a.rtt, 0.99), quantile(b.rtt, 0.99));
  if (!targets) return `  ${label}: throughput ${t}, RTT avg ${avg}, RTT p50 ${p50}, RTT p99 ${p99}`;
  const tMet = Number(t) >= TARGETS.throughput ? "met" : "NOT met";
  const rMet = Number(avg) <= TARGETS.rtt ? "met" : "NOT met";
  return (
    `  ${label}: throughput ${t} (target >= ${TARGETS.throughput}: ${tMet}), ` +
    `RTT avg ${avg} (target <= ${TARGETS.rtt}: ${rMet}), RTT p50 ${p50}, RTT p99 ${p99}`
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error("bench:overlay needs root (it starts its own dockerds and etcd)");
  const missing = ["iperf3", "dig", "busybox", "etcd", "dockerd", "iptables"].filter(
    (b) => !findExecutable(b),
  );
  if (missing.length > 0)
    throw new Error(`bench:overlay needs ${missing.join(", ")} (scripts/test.sh installs them)`);
  process.on("exit", cleanupSync);
  const id = randomBytes(3).toString("hex");
  let hosts: [Host, Host] | undefined;
  let weaveError: string | undefined;
  try {
    const underlay = await createUnderlay({ mtu: UNDERLAY_MTU });
    hosts = [await createHost({ name: "ov1" }), await createHost({ name: "ov2" })];
    for (const h of hosts) await underlay.attach(h);
    const etcd = await startEtcd(underlay);
    await Promise.all(hosts.map((h) => h.loadTestImage()));

    let weave: WeaveSetup | undefined;
    try {
      weave = await setupWeave(hosts, etcd.url);
    } catch (e) {
      weaveError = errText(e);
    }
    const paths: BenchPath[] = [
      {
        name: "underlay (host to host)",
        client: { net: `/run/netns/${hosts[0].name}`, ip: hosts[0].address },
        server: { net: `/run/netns/${hosts[1].name}`, ip: hosts[1].address },
      },
      // The issue's reference: the same two namespaces (weave's containers) joined by a hand-made
      // bridge + VXLAN; two new namespaces when weave could not be set up.
      await setupHandmade(hosts, id, weave ? [weave.path.client, weave.path.server] : undefined),
    ];
    if (weave) paths.push(weave.path);
    const serving = new Set<string>();
    for (const p of [...paths]) {
      try {
        if (!serving.has(p.server.net)) await startIperfServer(p.server.net);
        serving.add(p.server.net);
        await pings(p, 3); // warm-up: ARP, caches
      } catch (e) {
        if (p !== weave?.path) throw e;
        weaveError = errText(e);
        paths.splice(paths.indexOf(p), 1);
      }
    }

    const results = new Map<BenchPath, PathResult>();
    for (const p of paths) results.set(p, { mtu: await mtuOf(p.client), bps: [], rtt: [], lost: 0 });
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so that no path always runs first (or right after another).
      const order = paths.map((_, i) => paths[(i + round) % paths.length] as BenchPath);
      for (const p of order) {
        const r = results.get(p);
        if (r === undefined) continue;
        try {
          r.bps.push(await throughput(p));
        } catch (e) {
          if (p !== weave?.path) throw e;
          weaveError = errText(e);
          results.delete(p);
        }
      }
      // Pings in 10 slices taken in turn from each path, so that a noisy moment of the machine
      // lands on every path alike rather than on one.
      const slice = Math.max(1, Math.ceil(PINGS / 10));
      for (let done = 0; done < PINGS; done += slice) {
        for (const p of order) {
          const r = results.get(p);
          if (r === undefined) continue;
          try {
            const ping = await pings(p, Math.min(slice, PINGS - done));
            r.rtt.push(...ping.rtt);
            r.lost += ping.lost;
          } catch (e) {
            if (p !== weave?.path) throw e;
            weaveError = errText(e);
            results.delete(p);
          }
        }
      }
    }
    const reach =
      weave !== undefined && results.has(weave.path) ? await nameToReachable(hosts, weave) : undefined;

    console.log(
      `bench:overlay: 2 hosts, underlay MTU ${UNDERLAY_MTU}, overlay MTU ${OVERLAY_MTU}; ` +
        `iperf3 TCP ${ROUNDS} x ${SECONDS} s, ${PINGS} pings at 10 ms per round`,
    );
    for (const [p, r] of results) console.log(row(p.name, r));
    const [under, hand] = paths.map((p) => results.get(p));
    if (under !== undefined && hand !== undefined)
      console.log(compare("hand-made VXLAN / underlay", hand, under, false));
    const w = weave === undefined ? undefined : results.get(weave.path);
    if (w !== undefined && hand !== undefined) console.log(compare("weave / hand-made VXLAN", w, hand, true));
    if (w !== undefined && under !== undefined) console.log(compare("weave / underlay", w, under, false));
    if (reach !== undefined) {
      const p99 = quantile(reach.reachMs, 0.99);
      const met = reach.failures.length === 0 && p99 <= TARGETS.reachP99Ms ? "met" : "NOT met";
      console.log(
        `  docker run on host 2 -> reachable by name from host 1 (${DNS_RUNS} runs): p50 ${fmtMs(quantile(reach.reachMs, 0.5))}, ` +
          `p99 ${fmtMs(p99)}, failures ${reach.failures.length} (target p99 <= ${fmtMs(TARGETS.reachP99Ms)}: ${met}); ` +
          `docker run -d alone: p50 ${fmtMs(quantile(reach.dockerRunMs, 0.5))}, p99 ${fmtMs(quantile(reach.dockerRunMs, 0.99))}`,
      );
      for (const f of reach.failures.slice(0, 5)) console.log(`  failure: ${f}`);
      if (reach.reachMs.length === 0)
        weaveError = "no container started on host 2 was reachable by name from host 1";
    }
  } finally {
    await stopServers();
    if (hosts !== undefined) await removeHandmade(hosts);
    await destroyAll();
  }
  if (weaveError !== undefined) {
    console.log(`weave: FAILED: ${weaveError}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(`bench:overlay: ${errText(err)}`);
  process.exitCode = 1;
});
