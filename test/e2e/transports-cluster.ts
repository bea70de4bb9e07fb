/**
 * The cluster of the transports e2e tests: two underlay segments (192.168.199.0/24 and
 * 192.168.198.0/24, MTU 1400) joined by a router, etcd on the first segment's switch, hosts 1 and 2
 * on segment 1 and host 3 on segment 2; and checks over it (peers converged, metrics, captures).
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Etcd, Host, Underlay } from "./harness/index.js";
import { HOSTS_DIR, createHost, createRouter, createUnderlay, startEtcd } from "./harness/index.js";
import { eventually, ok } from "./lib.js";
import { type Packet, type PeersJson, peersOf, readCapture, startCapture } from "./transports-lib.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Underlay MTU of both segments. */
export const MTU = 1400;

/** Two segments joined by a router, etcd on the first, hosts 1 and 2 on it and host 3 on the second. */
export interface Cluster {
  seg1: Underlay;
  seg2: Underlay;
  etcd: Etcd;
  hosts: [Host, Host, Host];
  /** `weave launch` on `h` with the cluster's flags and `extra`. */
  launch(h: Host, extra?: readonly string[]): Promise<void>;
}

export async function makeCluster(labels: readonly [string, string, string]): Promise<Cluster> {
  const seg1 = await createUnderlay({ mtu: MTU });
  const seg2 = await createUnderlay({ mtu: MTU, prefix: "192.168.198" });
  await createRouter([seg1, seg2]);
  const etcd = await startEtcd(seg1);
  const hosts = (await Promise.all(labels.map((name) => createHost({ name })))) as [Host, Host, Host];
  await seg1.attach(hosts[0]);
  await seg1.attach(hosts[1]);
  await seg2.attach(hosts[2]);
  await Promise.all(hosts.map((h) => h.loadTestImage()));
  const launch = async (h: Host, extra: readonly string[] = []) => {
    const args = ["launch", "--store", etcd.url, "--advertise-addr", h.address, "--name", h.name, ...extra];
    ok(await h.weave(args), `weave launch on ${h.name}`);
  };
  return { seg1, seg2, etcd, hosts, launch };
}

/** The transport `of` host should use to each other host, as `auto` decides it in {@link makeCluster}. */
export function expectedTransport(hosts: readonly Host[], of: Host, to: Host): "routed" | "vxlan" {
  const seg = (h: Host) => h.address.split(".").slice(0, 3).join(".");
  return seg(of) === seg(to) && hosts.includes(to) ? "routed" : "vxlan";
}

/** Waits until `h` sees every host in `hosts` alive with a transport and its path up. */
export async function converged(h: Host, hosts: readonly Host[]): Promise<PeersJson> {
  let last: PeersJson | undefined;
  await eventually(
    `${h.name} sees every peer up`,
    async () => {
      last = await peersOf(h);
      return hosts.every((o) => {
        const p = last?.peers.find((x) => x.name === o.name);
        return o === h ? p?.state === "self" : p?.state === "alive" && p.transport !== null && p.up;
      });
    },
    30_000,
  ).catch((e: unknown) => {
    console.log(`last peers of ${h.name}: ${JSON.stringify(last?.peers)}`);
    throw e;
  });
  return last as PeersJson;
}

/** The series of a Prometheus exposition whose name is `name` and whose labels include `labels`. */
export function metricLines(text: string, name: string, labels: Record<string, string>): string[] {
  return text
    .split("\n")
    .filter(
      (l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
}

export async function metricsOf(h: Host): Promise<string> {
  return ok(await h.exec(["busybox", "wget", "-qO-", "http://127.0.0.1:6782/metrics"]), "GET /metrics");
}

/** Captures segment 1 while `action` runs; returns the IP packets and the raw bytes. */
export async function captureDuring(
  seg: Underlay,
  action: () => Promise<void>,
): Promise<{ packets: Packet[]; bytes: Buffer }> {
  await mkdir(HOSTS_DIR, { recursive: true });
  const file = join(HOSTS_DIR, `cap-${randomBytes(3).toString("hex")}.pcap`);
  const cap = await startCapture(seg.name, "br0", file);
  try {
    await action();
    await sleep(300);
  } finally {
    await cap.stop();
  }
  try {
    return await readCapture(file);
  } finally {
    await rm(file, { force: true });
  }
}

/** Waits until the default network `weave` exists on every host (the cluster creates it once). */
export async function defaultNetworkEverywhere(hosts: readonly Host[]): Promise<void> {
  for (const h of hosts) {
    await eventually(
      `network "weave" on ${h.name}`,
      async () => (await h.docker(["network", "inspect", "weave"])).code === 0,
      30_000,
    );
  }
}
