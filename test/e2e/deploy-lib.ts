/**
 * Helpers of the e2e tests of weave's ways to run (container, managed plugin): the scripts, and
 * checks of a weave network from its containers' point of view (traffic, weaveDNS names, addresses).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Host } from "./harness/index.js";
import { REPO_ROOT } from "./harness/index.js";
import { canPing, containerIp, eventually, ok, runSleeper, uniq } from "./lib.js";

export const SCRIPTS = join(REPO_ROOT, "scripts");

/** The gateway of a network's first subnet: where weaveDNS answers for containers on it. */
export async function gatewayOf(host: Host, network: string): Promise<string> {
  const gw = ok(
    await host.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network]),
    `gateway of ${network}`,
  );
  assert.match(gw, /^\d+\.\d+\.\d+\.\d+$/, `network ${network} has a gateway`);
  return gw;
}

/**
 * The default gateway of a container that is on one weave network: that network's gateway, where
 * weaveDNS answers it. Use it for networks created with `--subnet` and no `--gateway`, whose inspect
 * output shows no gateway.
 */
export async function defaultGatewayOf(host: Host, container: string): Promise<string> {
  const out = ok(await host.docker(["exec", container, "ip", "route", "show", "default"]));
  const gw = /^default via (\d+\.\d+\.\d+\.\d+)/.exec(out)?.[1];
  assert.ok(gw, `${container} has a default route: ${out}`);
  return gw;
}

/** `docker run` flags that make a container use weaveDNS on `gateway` (what `weave dns-args` prints). */
export function dnsFlags(gateway: string): string[] {
  return ["--dns", gateway, "--dns-search", "weave.local"];
}

/** The addresses weaveDNS on `server` answers for `name`, asked from the host with dig. */
export async function dig(host: Host, server: string, name: string): Promise<string[]> {
  const res = await host.sh(`dig +short +time=2 +tries=1 @${server} ${name}`);
  if (res.code !== 0) return [];
  return res.stdout.split("\n").filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l.trim()));
}

/** True when `container` resolves `name` (through Docker's resolver and weaveDNS) to `ip`. */
export async function resolves(host: Host, container: string, name: string, ip: string): Promise<boolean> {
  const res = await host.docker(["exec", container, "nslookup", name]);
  return res.code === 0 && new RegExp(`Address:\\s*${ip.replaceAll(".", "\\.")}\\s*$`, "m").test(res.stdout);
}

/**
 * Waits (up to 3 s, no more: a gateway that stops answering for longer is a bug) until `container`
 * resolves `name` to `ip`. A name just registered may take a moment to reach weaveDNS's worker
 * processes.
 */
export async function eventuallyResolves(
  host: Host,
  container: string,
  name: string,
  ip: string,
): Promise<void> {
  await eventually(
    `${container} resolves ${name} to ${ip}`,
    () => resolves(host, container, name, ip),
    3_000,
  );
}

/** IPv4 addresses (without prefix) of the containers Docker has on `network`. */
export async function addressesOn(host: Host, network: string): Promise<string[]> {
  const out = ok(
    await host.docker(["network", "inspect", "-f", "{{range .Containers}}{{.IPv4Address}} {{end}}", network]),
  );
  return out
    .split(/\s+/)
    .filter((a) => a !== "")
    .map((a) => a.split("/")[0] ?? "");
}

/** Asserts that no address is given twice on `network`; returns the addresses. */
export async function assertNoDuplicateAddress(host: Host, network: string): Promise<string[]> {
  const ips = await addressesOn(host, network);
  assert.equal(new Set(ips).size, ips.length, `duplicate address on ${network}: ${ips.join(", ")}`);
  return ips;
}

/**
 * Runs `action` while `container` pings `ip` 5 times a second for `seconds`; returns the packet
 * loss in percent.
 */
export async function lossDuring(
  host: Host,
  container: string,
  ip: string,
  seconds: number,
  action: () => Promise<void>,
): Promise<number> {
  const count = String(seconds * 5);
  const pinger = host.docker(["exec", container, "ping", "-c", count, "-i", "0.2", "-W", "1", ip], {
    timeoutMs: (seconds + 30) * 1000,
  });
  await new Promise((r) => setTimeout(r, 400));
  await action();
  const res = await pinger;
  const loss = /(\d+)% packet loss/.exec(res.stdout)?.[1];
  assert.ok(loss !== undefined, `ping printed no summary:\n${res.stdout}\n${res.stderr}`);
  return Number(loss);
}

/**
 * Two containers on `network` using weaveDNS at `gateway`; asserts they reach each other by
 * address and by weaveDNS name. Returns their names and b's address.
 */
export async function pairTalks(
  host: Host,
  network: string,
  gateway: string,
): Promise<{ a: string; b: string; ipB: string }> {
  const a = await runSleeper(host, uniq("a"), [`--net=${network}`, ...dnsFlags(gateway)]);
  const b = await runSleeper(host, uniq("b"), [`--net=${network}`, ...dnsFlags(gateway)]);
  const ipB = await containerIp(host, b, network);
  assert.ok(await canPing(host, a, ipB), "a pings b");
  await eventually("weaveDNS knows b", async () =>
    (await dig(host, gateway, `${b}.weave.local`)).includes(ipB),
  );
  await eventuallyResolves(host, a, `${b}.weave.local`, ipB);
  assert.ok(await canPing(host, a, `${b}.weave.local`), "a pings b by its weaveDNS name");
  return { a, b, ipB };
}

/**
 * `dig` run inside `container`'s network namespace (so weaveDNS sees the container's own address
 * as the source), against `server`: the whole output (status line included). A question weaveDNS
 * forwards may time out (the test hosts have no upstream): then the output says so, no throw.
 */
export async function digFrom(host: Host, container: string, server: string, args: string): Promise<string> {
  const pid = ok(await host.docker(["inspect", "-f", "{{.State.Pid}}", container]), `pid of ${container}`);
  const res = await host.sh(`nsenter -t ${pid} -n dig +time=2 +tries=1 @${server} ${args}`);
  return res.stdout + res.stderr;
}

/** The A/AAAA/PTR data of a dig answer section (after digFrom), sorted. */
export function answersOf(out: string): string[] {
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? "";
  return section
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && ["A", "AAAA", "PTR"].includes(f[3] ?? ""))
    .map((f) => f[4] ?? "")
    .sort();
}
