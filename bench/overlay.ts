/**
 * bench:overlay — what do weave's transports between hosts cost next to what the kernel, WireGuard
 * and Docker's own overlay do by hand, measured in one run?
 *
 * Two throwaway Docker hosts (see test/e2e/harness) on one underlay with MTU 1400, an etcd on the
 * underlay, and Docker's swarm overlay between the two dockerds. Weave is launched on both hosts
 * once per phase (`weave stop`, then `weave launch` with the phase's flags), each phase measuring its
 * weave path interleaved, round by round, with its references (iperf3 TCP throughput, SECONDS per
 * round, ROUNDS rounds; ping RTT, PINGS pings at 10 ms per round, in slices taken in turn):
 *  - vxlan (`--transport vxlan`, network `weave`): underlay (host to host); a hand-made VXLAN
 *    between the same two containers' namespaces (bench/overlay-handmade.ts); Docker's swarm overlay
 *    (`--data-path-port 4790`, an attachable overlay network, container MTU 1350, one per host).
 *    Then DNS_RUNS times the time from `docker run -d --name X --net weave` on host 2 until host 1
 *    resolves X.weave.local through weaveDNS and pings it.
 *  - routed (`--transport routed`, a new network): underlay.
 *  - encrypted (`--transport routed --password-file F`, a new network): a hand-made WireGuard tunnel
 *    (wireguard-go on both hosts) between the same two containers' namespaces, MTU 1340 like weave's.
 * Targets: weave VXLAN >= 0.95 x hand-made VXLAN throughput, RTT avg <= 1.1 x; weave VXLAN >= 1.05 x
 * swarm overlay throughput; weave routed >= 0.95 x underlay throughput, RTT p50 <= 1.1 x; encrypted
 * weave >= 0.90 x hand-made WireGuard throughput; name-to-reachable p99 <= 1 s. The references are
 * measured and printed even when weave fails; then "weave <phase>: FAILED: <reason>" and exit 1.
 *
 * Usage: sudo npm run bench:overlay [-- ROUNDS [SECONDS [DNS_RUNS [PINGS]]]]   (default 2 10 20 200)
 * WEAVE_BENCH_PHASES=vxlan,routed,encrypted (the default) picks phases.
 */
import { randomBytes } from "node:crypto";
import {
  type Host,
  createHost,
  createUnderlay,
  destroyAll,
  findExecutable,
  startEtcd,
} from "../test/e2e/harness/index.js";
import { fmtMs, quantile } from "./stats.js";
import {
  type BenchPath,
  type MeasureOptions,
  type PathResult,
  compare,
  errText,
  killServersSync,
  measure,
  row,
  stopServers,
} from "./overlay-measure.js";
import {
  removeHandmade,
  removeHandmadeSync,
  setupHandmadeVxlan,
  setupHandmadeWireguard,
} from "./overlay-handmade.js";
import {
  type ReachResult,
  type WeavePhase,
  endWeavePhase,
  nameToReachable,
  setupSwarm,
  weavePhase,
} from "./overlay-docker.js";

const OPTS: MeasureOptions = { rounds: intArg(2, 2), seconds: intArg(3, 10), pings: intArg(5, 200) };
const DNS_RUNS = intArg(4, 20);
const PHASES = (process.env.WEAVE_BENCH_PHASES ?? "vxlan,routed,encrypted").split(",");
const UNDERLAY_MTU = 1400;
const VXLAN_MTU = UNDERLAY_MTU - 50; // VXLAN over IPv4: 50 bytes of headers
const WG_MTU = UNDERLAY_MTU - 60; // WireGuard over IPv4: 60 bytes
const PW_FILE = "/etc/docker/weave-bench.pw";

function intArg(index: number, fallback: number): number {
  const text = process.argv[index];
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`Invalid argument ${index - 1}: "${text}"`);
  return n;
}

/** What one phase measured, and what failed in it (path name -> reason). */
interface Phase {
  title: string;
  results: Map<BenchPath, PathResult>;
  failed: Map<string, string>;
  weave?: BenchPath;
}

/** Tries `setup`; on failure records the reason under `name` and resolves undefined. */
async function attempt<T>(
  failed: Map<string, string>,
  name: string,
  setup: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await setup();
  } catch (e) {
    failed.set(name, errText(e));
    return undefined;
  }
}

function byName(phase: Phase | undefined, prefix: string): PathResult | undefined {
  if (phase === undefined) return undefined;
  for (const [p, r] of phase.results) if (p.name.startsWith(prefix)) return r;
  return undefined;
}

function printPhase(phase: Phase): void {
  console.log(`${phase.title}:`);
  for (const [p, r] of phase.results) console.log(row(p.name, r));
  for (const [name, reason] of phase.failed)
    console.log(row(name, { mtu: 0, bps: [], rtt: [], lost: 0, error: reason }));
}

function printReach(reach: ReachResult): void {
  const p99 = quantile(reach.reachMs, 0.99);
  const met = reach.failures.length === 0 && p99 <= 1000 ? "met" : "NOT met";
  console.log(
    `  docker run on host 2 -> reachable by name from host 1 (${DNS_RUNS} runs): p50 ${fmtMs(quantile(reach.reachMs, 0.5))}, ` +
      `p99 ${fmtMs(p99)}, failures ${reach.failures.length} (target p99 <= ${fmtMs(1000)}: ${met}); ` +
      `docker run -d alone: p50 ${fmtMs(quantile(reach.dockerRunMs, 0.5))}, p99 ${fmtMs(quantile(reach.dockerRunMs, 0.99))}`,
  );
  for (const f of reach.failures.slice(0, 5)) console.log(`  failure: ${f}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error("bench:overlay needs root (it starts its own dockerds and etcd)");
  const tools = ["iperf3", "dig", "busybox", "etcd", "dockerd", "iptables", "wireguard-go", "wg"];
  const missing = tools.filter((b) => !findExecutable(b));
  if (missing.length > 0)
    throw new Error(`bench:overlay needs ${missing.join(", ")} (scripts/test.sh installs them)`);
  process.on("exit", () => {
    killServersSync();
    removeHandmadeSync();
  });
  const id = randomBytes(3).toString("hex");
  const phases: Phase[] = [];
  let reach: ReachResult | undefined;
  try {
    const underlay = await createUnderlay({ mtu: UNDERLAY_MTU });
    const hosts: [Host, Host] = [await createHost({ name: "ov1" }), await createHost({ name: "ov2" })];
    for (const h of hosts) await underlay.attach(h);
    const etcd = await startEtcd(underlay);
    await Promise.all(hosts.map((h) => h.loadTestImage()));
    for (const h of hosts) await h.sh(`umask 077 && printf %s bench-${id} > ${PW_FILE}`);
    const under: BenchPath = {
      name: "underlay (host to host)",
      client: { net: `/run/netns/${hosts[0].name}`, ip: hosts[0].address },
      server: { net: `/run/netns/${hosts[1].name}`, ip: hosts[1].address },
    };
    const run = async (
      name: string,
      flags: string[],
      network: string,
      refs: (w: WeavePhase | undefined, failed: Map<string, string>) => Promise<(BenchPath | undefined)[]>,
    ): Promise<{ phase: Phase; weave: WeavePhase | undefined }> => {
      const failed = new Map<string, string>();
      const w = await attempt(failed, `weave ${name}`, () =>
        weavePhase(hosts, etcd.url, flags, network, name),
      );
      const paths = [...(await refs(w, failed)), w?.path].filter((p): p is BenchPath => p !== undefined);
      const title = `${name} phase (weave ${flags.join(" ")})`;
      const phase: Phase = {
        title,
        results: await measure(paths, OPTS),
        failed,
        ...(w ? { weave: w.path } : {}),
      };
      phases.push(phase);
      return { phase, weave: w };
    };

    if (PHASES.includes("vxlan")) {
      const { phase, weave } = await run("vxlan", ["--transport", "vxlan"], "weave", async (w, failed) => [
        under,
        await attempt(failed, "hand-made VXLAN", () =>
          setupHandmadeVxlan(hosts, id, VXLAN_MTU, w ? [w.path.client, w.path.server] : undefined),
        ),
        await attempt(failed, "Docker swarm overlay", () => setupSwarm(hosts, UNDERLAY_MTU)),
      ]);
      const measured =
        weave !== undefined &&
        phase.weave !== undefined &&
        phase.results.get(phase.weave)?.error === undefined;
      if (weave !== undefined && measured) reach = await nameToReachable(hosts, weave, DNS_RUNS);
      if (weave !== undefined) await endWeavePhase(hosts, weave);
    }
    if (PHASES.includes("routed")) {
      const { weave } = await run("routed", ["--transport", "routed"], `wbrouted${id}`, async () => [under]);
      if (weave !== undefined) await endWeavePhase(hosts, weave);
    }
    if (PHASES.includes("encrypted")) {
      const flags = ["--transport", "routed", "--password-file", PW_FILE];
      await run("encrypted", flags, `wbenc${id}`, async (w, failed) => [
        await attempt(failed, "hand-made WireGuard", () =>
          setupHandmadeWireguard(hosts, id, WG_MTU, w ? [w.path.client, w.path.server] : undefined),
        ),
      ]);
    }
  } finally {
    await stopServers();
    await removeHandmade();
    await destroyAll();
  }
  report(phases, reach);
}

function report(phases: readonly Phase[], reach: ReachResult | undefined): void {
  console.log(
    `bench:overlay: 2 hosts, underlay MTU ${UNDERLAY_MTU}; iperf3 TCP ${OPTS.rounds} x ${OPTS.seconds} s, ` +
      `${OPTS.pings} pings at 10 ms per round; paths of a phase interleaved`,
  );
  for (const phase of phases) printPhase(phase);
  const find = (title: string) => phases.find((p) => p.title.startsWith(title));
  const [vx, routed, enc] = [find("vxlan"), find("routed"), find("encrypted")];
  console.log("ratios:");
  console.log(compare("hand-made VXLAN / underlay", byName(vx, "hand-made VXLAN"), byName(vx, "underlay")));
  console.log(compare("swarm overlay / underlay", byName(vx, "Docker swarm"), byName(vx, "underlay")));
  console.log(
    compare("weave VXLAN / hand-made VXLAN", byName(vx, "weave"), byName(vx, "hand-made VXLAN"), {
      throughput: 0.95,
      rttAvg: 1.1,
    }),
  );
  console.log(
    compare("weave VXLAN / swarm overlay", byName(vx, "weave"), byName(vx, "Docker swarm"), {
      throughput: 1.05,
    }),
  );
  console.log(
    compare("weave routed / underlay", byName(routed, "weave"), byName(routed, "underlay"), {
      throughput: 0.95,
      rttP50: 1.1,
    }),
  );
  console.log(
    compare(
      "weave encrypted / hand-made WireGuard",
      byName(enc, "weave"),
      byName(enc, "hand-made WireGuard"),
      { throughput: 0.9 },
    ),
  );
  if (reach !== undefined) printReach(reach);
  const failures: string[] = [];
  for (const phase of phases) {
    for (const [p, r] of phase.results)
      if (r.error !== undefined) failures.push(`${p.name}: FAILED: ${r.error}`);
    for (const [name, reason] of phase.failed) failures.push(`${name}: FAILED: ${reason}`);
  }
  if (reach !== undefined && reach.reachMs.length === 0)
    failures.push("weave vxlan: FAILED: no container was reachable by name");
  for (const f of failures) console.log(f);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench:overlay: ${errText(err)}`);
  process.exitCode = 1;
});
