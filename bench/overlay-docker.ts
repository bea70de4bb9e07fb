/**
 * The Docker side of bench:overlay: weave launched on both hosts with a phase's flags and a container
 * on each host on one weave network; Docker's own swarm overlay between the same two dockerds; and
 * the time from `docker run` on host 2 until host 1 resolves the name through weaveDNS and reaches it.
 */
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { type Host, TEST_IMAGE } from "../test/e2e/harness/index.js";
import { type BenchPath, type Endpoint, inNet, must, sleep } from "./overlay-measure.js";

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

/**
 * Starts a container `name` on `network` on each host and resolves once the first pings the second:
 * their namespaces and addresses on that network. Throws with the reason when a step fails.
 */
async function containerPair(
  hosts: readonly [Host, Host],
  network: string,
  prefix: string,
): Promise<[Endpoint, Endpoint]> {
  const ends: Endpoint[] = [];
  for (const [i, h] of hosts.entries()) {
    const name = `${prefix}${i + 1}`;
    await docker(h, ["run", "-d", "--name", name, "--net", network, TEST_IMAGE, "sleep", "36000"]);
    const pid = await docker(h, ["inspect", "-f", "{{.State.Pid}}", name]);
    const ip = await docker(h, [
      "inspect",
      "-f",
      `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
      name,
    ]);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip))
      throw new Error(`container ${name} on ${h.name} has no address on "${network}"`);
    // Docker reports the PID in the machine's PID namespace (dockerd has none of its own here).
    ends.push({ net: `/proc/${pid}/ns/net`, ip });
  }
  const [client, server] = ends as [Endpoint, Endpoint];
  await until(`${client.ip} (host 1) to ping ${server.ip} (host 2) on ${network}`, 30_000, async () => {
    return (await inNet(client.net, ["busybox", "ping", "-c", "1", "-W", "1", server.ip])).code === 0;
  });
  return [client, server];
}

/** A weave phase: weave launched with `flags` on both hosts, a container pair on `network`. */
export interface WeavePhase {
  path: BenchPath;
  network: string;
  /** weaveDNS on host 1: the address of the network's bridge there (for the default network). */
  dns: string | undefined;
  /** The pair's container names, on host 1 and host 2. */
  containers: [string, string];
}

/**
 * Stops weave on both hosts when it runs (`weave stop`), launches it with the cluster flags and
 * `flags`, and starts a container pair on `network` (created from host 1 unless it is the default
 * network `weave`). Throws with the reason when any step fails.
 */
export async function weavePhase(
  hosts: readonly [Host, Host],
  store: string,
  flags: readonly string[],
  network: string,
  label: string,
): Promise<WeavePhase> {
  for (const h of hosts) await h.weave(["stop"], { timeoutMs: 30_000 });
  for (const h of hosts) {
    const args = ["launch", "--store", store, "--advertise-addr", h.address, "--name", h.name, ...flags];
    const res = await h.weave(args, { timeoutMs: 60_000 });
    if (res.code !== 0)
      throw new Error(`weave ${args.join(" ")} on ${h.name} exited ${res.code}: ${res.stderr.trim()}`);
  }
  if (network !== "weave") {
    await docker(hosts[0], ["network", "create", "-d", "weave", "--ipam-driver", "weave", network]);
  }
  for (const h of hosts) {
    await until(`network "${network}" on ${h.name}`, 30_000, async () => {
      return (await h.docker(["network", "inspect", network])).code === 0;
    });
  }
  const prefix = `wb${label.slice(0, 3)}`;
  const [client, server] = await containerPair(hosts, network, prefix);
  let dns: string | undefined;
  if (network === "weave") {
    const addr = await must(["ip", "-n", hosts[0].name, "-4", "-o", "addr", "show", "dev", "weave"]);
    dns = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)?.[1];
  }
  const containers: [string, string] = [`${prefix}1`, `${prefix}2`];
  return { path: { name: `weave ${label}`, client, server }, network, dns, containers };
}

/** Removes a phase's containers (the next phase relaunches weave). */
export async function endWeavePhase(hosts: readonly [Host, Host], phase: WeavePhase): Promise<void> {
  for (const [i, h] of hosts.entries())
    await h.docker(["rm", "-f", phase.containers[i] ?? ""], { timeoutMs: 60_000 });
}

/**
 * Docker's own overlay between the two hosts' dockerds: a swarm (`init` on host 1 with its underlay
 * address and VXLAN data port 4790, apart from weave's 4789; host 2 joins as a worker), an attachable
 * overlay network, and a container on each host on it. The network's MTU option is the underlay's,
 * `underlayMtu`: Docker's overlay driver takes the VXLAN overhead off it for the containers.
 */
export async function setupSwarm(hosts: readonly [Host, Host], underlayMtu: number): Promise<BenchPath> {
  const [h1, h2] = hosts;
  await docker(h1, ["swarm", "init", "--advertise-addr", h1.address, "--data-path-port", "4790"]);
  const token = await docker(h1, ["swarm", "join-token", "-q", "worker"]);
  await docker(h2, ["swarm", "join", "--token", token, "--advertise-addr", h2.address, `${h1.address}:2377`]);
  await until("host 2 in the swarm", 30_000, async () => {
    const nodes = await docker(h1, ["node", "ls", "--format", "{{.Status}}"]);
    return nodes.split("\n").filter((s) => s === "Ready").length === 2;
  });
  const net = "wbswarm";
  await docker(h1, [
    "network",
    "create",
    "-d",
    "overlay",
    "--attachable",
    "--subnet",
    "10.96.0.0/24",
    "--opt",
    `com.docker.network.driver.mtu=${underlayMtu}`,
    net,
  ]);
  const [client, server] = await containerPair(hosts, net, "wbs");
  return { name: "Docker swarm overlay", client, server };
}

export interface ReachResult {
  reachMs: number[];
  dockerRunMs: number[];
  failures: string[];
}

/**
 * `runs` times: `docker run -d` on host 2 until host 1's container (`phase.path.client`) reaches it by
 * name. The containers stay until the end, so no address is reused: a reused address with a new MAC
 * would measure the ageing of the client's neighbour cache, not weave's propagation.
 */
export async function nameToReachable(
  hosts: readonly [Host, Host],
  phase: WeavePhase,
  runs: number,
): Promise<ReachResult> {
  const [h1, h2] = hosts;
  const out: ReachResult = { reachMs: [], dockerRunMs: [], failures: [] };
  if (phase.dns === undefined) throw new Error(`no weaveDNS address for network ${phase.network}`);
  const names: string[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `wvr${i}${randomBytes(2).toString("hex")}`;
    names.push(name);
    const t0 = performance.now();
    let runMs: number | undefined;
    let runFailed = false;
    const started = h2
      .docker(["run", "-d", "--name", name, "--net", phase.network, TEST_IMAGE, "sleep", "3600"], {
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
      const dig = ["dig", "+short", "+time=1", "+tries=1", `@${phase.dns}`, `${name}.weave.local`];
      const answer = await inNet(`/run/netns/${h1.name}`, dig, 5000);
      const ip = answer.stdout.split("\n").find((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l.trim()));
      last = `dig: ${JSON.stringify((answer.stdout || answer.stderr).trim())}`;
      if (ip === undefined) continue;
      const ping = await inNet(
        phase.path.client.net,
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
