/**
 * The hand-made reference paths of bench:overlay, built with plain iproute2 and WireGuard tools
 * between two namespaces, one behind each host; each ends in a second interface of those namespaces,
 * so that a reference and a weave path start and end in the same place (a Docker container's
 * namespace, with Docker's own rules in it). Without weave containers, two namespaces of our own.
 *
 * - VXLAN: a bridge + VXLAN device on each host (learning off, static FDB and neighbour entries,
 *   MTU = underlay - 50): the best a VXLAN overlay can do on this kernel.
 * - WireGuard: wireguard-go on each host (a device with a name unique on the machine, keys from
 *   `wg genkey`), a veth into the namespace and a route to the other side's subnet through the
 *   device (MTU = underlay - 60): the best an encrypted routed path can do here.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Host } from "../test/e2e/harness/index.js";
import { run } from "../test/e2e/harness/index.js";
import { type BenchPath, type Endpoint, cmd, must, sleep, stopChild } from "./overlay-measure.js";

/** The hand-made VXLAN: its own VNI and UDP port, apart from weave's (4789) and swarm's (4790). */
const HM = { vni: 9999, port: 4799, bridge: "bvx0", vxlan: "vxb0", veth: "vbh0", subnet: "10.99.0" };
/** The hand-made WireGuard: its own port (weave's is 51820) and subnets. */
const WG = { port: 51830, veth: "vwgb0", ifname: "ethwg", subnet: "10.98" };

const madeNetns = new Set<string>();
const wgDaemons = new Set<ChildProcess>();

/** One end of a hand-made path: a namespace for nsenter and its handle for `ip link ... netns`. */
interface Target {
  net: string;
  handle: string;
}

/** The namespaces of `into` (container namespaces, /proc/PID/ns/net), or two new ones named after `tag`. */
async function targets(id: string, tag: string, into?: readonly [Endpoint, Endpoint]): Promise<Target[]> {
  const out: Target[] = [];
  for (let i = 0; i < 2; i++) {
    const pid = into ? /^\/proc\/(\d+)\/ns\/net$/.exec(into[i]?.net ?? "")?.[1] : undefined;
    if (pid !== undefined) {
      out.push({ net: `/proc/${pid}/ns/net`, handle: pid });
      continue;
    }
    const me = `wvbx-${id}-${tag}${i + 1}`;
    madeNetns.add(me);
    await cmd(`ip netns add ${me}`);
    await cmd(`ip -n ${me} link set lo up`);
    out.push({ net: `/run/netns/${me}`, handle: me });
  }
  return out;
}

function inside(t: Target, text: string): Promise<string> {
  return must(["nsenter", `--net=${t.net}`, ...text.split(" ")]);
}

/** In a host: lets forwarded or bridged traffic of `dev` pass dockerd's FORWARD policy (DROP). */
async function acceptForward(host: Host, dev: string): Promise<void> {
  const ipt = `nsenter --net=/run/netns/${host.name} iptables`;
  await cmd(`${ipt} -I FORWARD -i ${dev} -j ACCEPT`);
  await cmd(`${ipt} -I FORWARD -o ${dev} -j ACCEPT`);
}

/** Sets up the hand-made VXLAN between `into` (or two new namespaces); see the module note. */
export async function setupHandmadeVxlan(
  hosts: readonly [Host, Host],
  id: string,
  mtu: number,
  into?: readonly [Endpoint, Endpoint],
): Promise<BenchPath> {
  const macs = ["02:99:00:00:00:01", "02:99:00:00:00:02"];
  const { bridge, vxlan, veth, subnet } = HM;
  const ends = await targets(id, "vx", into);
  for (const [i, host] of hosts.entries()) {
    const j = 1 - i;
    const h = host.name;
    const t = ends[i] as Target;
    const m = `mtu ${mtu}`;
    await cmd(`ip -n ${h} link add ${bridge} ${m} type bridge`);
    const dev = host.links[0]?.ifname ?? "eth0";
    await cmd(
      `ip -n ${h} link add ${vxlan} ${m} type vxlan id ${HM.vni} local ${host.address} dstport ${HM.port} nolearning dev ${dev}`,
    );
    await cmd(`ip -n ${h} link add ${veth} ${m} type veth peer name ethhm ${m} netns ${t.handle}`);
    for (const port of [vxlan, veth]) await cmd(`ip -n ${h} link set ${port} master ${bridge} up`);
    await cmd(`bridge -n ${h} link set dev ${vxlan} learning off`);
    await cmd(`ip -n ${h} link set ${bridge} up`);
    await inside(t, `ip link set ethhm address ${macs[i]} up`);
    await inside(t, `ip addr add ${subnet}.${i + 1}/24 dev ethhm`);
    // The remote end: a permanent neighbour entry in the namespace, a static FDB entry on the bridge
    // (no flooding) and one on the VXLAN device (the remote host's underlay address).
    const mac = macs[j] ?? "";
    await inside(t, `ip neigh replace ${subnet}.${j + 1} lladdr ${mac} dev ethhm nud permanent`);
    await cmd(`bridge -n ${h} fdb add ${mac} dev ${vxlan} master static`);
    await cmd(`bridge -n ${h} fdb add ${mac} dev ${vxlan} self dst ${hosts[j]?.address} permanent`);
    // dockerd's FORWARD policy is DROP and bridged frames pass iptables (br_netfilter).
    await acceptForward(host, bridge);
  }
  return {
    name: into ? "hand-made VXLAN (same containers)" : "hand-made VXLAN",
    client: { net: ends[0]?.net ?? "", ip: `${subnet}.1` },
    server: { net: ends[1]?.net ?? "", ip: `${subnet}.2` },
  };
}

/** Starts wireguard-go for device `dev` in `host`'s network namespace; resolves once its socket is there. */
async function startWireguardGo(host: Host, dev: string): Promise<void> {
  // -f: in the foreground, so that its PID is ours to stop. Its UAPI socket is /run/wireguard/DEV.sock
  // of the machine (the mount namespace is the machine's): hence names unique on the machine.
  const child = spawn("nsenter", [`--net=/run/netns/${host.name}`, "wireguard-go", "-f", dev], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  wgDaemons.add(child);
  let err = "";
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const deadline = Date.now() + 10_000;
  while (!existsSync(`/run/wireguard/${dev}.sock`)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`wireguard-go ${dev} in ${host.name} did not start: ${err.trim()}`);
    await sleep(50);
  }
}

/** A WireGuard key pair from `wg genkey` / `wg pubkey`. */
async function keyPair(): Promise<{ priv: string; pub: string }> {
  const priv = (await must(["wg", "genkey"])).trim();
  const pub = (await run(["wg", "pubkey"], { input: `${priv}\n`, check: true })).stdout.trim();
  return { priv, pub };
}

/** Sets up the hand-made WireGuard path between `into` (or two new namespaces); see the module note. */
export async function setupHandmadeWireguard(
  hosts: readonly [Host, Host],
  id: string,
  mtu: number,
  into?: readonly [Endpoint, Endpoint],
): Promise<BenchPath> {
  const ends = await targets(id, "wg", into);
  const keys = [await keyPair(), await keyPair()];
  const dir = await mkdtemp(join(tmpdir(), "wvbwg-"));
  try {
    for (const [i, host] of hosts.entries()) {
      const j = 1 - i;
      const h = host.name;
      const t = ends[i] as Target;
      const dev = `wgb${id}${i}`;
      const keyFile = join(dir, `k${i}`);
      await writeFile(keyFile, `${keys[i]?.priv}\n`);
      await chmod(keyFile, 0o600);
      await startWireguardGo(host, dev);
      const wg = `nsenter --net=/run/netns/${h} wg set ${dev}`;
      await cmd(`${wg} listen-port ${WG.port} private-key ${keyFile}`);
      await cmd(
        `${wg} peer ${keys[j]?.pub} endpoint ${hosts[j]?.address}:${WG.port} allowed-ips ${WG.subnet}.${j}.0/24`,
      );
      await cmd(`ip -n ${h} link set ${dev} mtu ${mtu} up`);
      await cmd(`ip -n ${h} route add ${WG.subnet}.${j}.0/24 dev ${dev}`);
      // The namespace's side: a veth with ${subnet}.i.2, the host's end .1 as its route to the other side.
      await cmd(
        `ip -n ${h} link add ${WG.veth} mtu ${mtu} type veth peer name ${WG.ifname} mtu ${mtu} netns ${t.handle}`,
      );
      await cmd(`ip -n ${h} addr add ${WG.subnet}.${i}.1/24 dev ${WG.veth}`);
      await cmd(`ip -n ${h} link set ${WG.veth} up`);
      await inside(t, `ip addr add ${WG.subnet}.${i}.2/24 dev ${WG.ifname}`);
      await inside(t, `ip link set ${WG.ifname} up`);
      await inside(t, `ip route add ${WG.subnet}.${j}.0/24 via ${WG.subnet}.${i}.1`);
      await acceptForward(host, WG.veth);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    name: into ? "hand-made WireGuard (same containers)" : "hand-made WireGuard",
    client: { net: ends[0]?.net ?? "", ip: `${WG.subnet}.0.2` },
    server: { net: ends[1]?.net ?? "", ip: `${WG.subnet}.1.2` },
  };
}

/** Stops our wireguard-go daemons (SIGTERM: they remove their sockets) and deletes our namespaces. */
export async function removeHandmade(): Promise<void> {
  for (const child of wgDaemons) {
    await stopChild(child);
    wgDaemons.delete(child);
  }
  for (const me of madeNetns) {
    await run(["ip", "netns", "delete", me]);
    madeNetns.delete(me);
  }
}

/** Exit hook: SIGKILL our wireguard-go daemons, delete our namespaces (the harness removes the hosts). */
export function removeHandmadeSync(): void {
  for (const child of wgDaemons) if (child.exitCode === null) child.kill("SIGKILL");
  for (const me of madeNetns) spawnSync("ip", ["netns", "delete", me], { stdio: "ignore" });
}
