/**
 * The routed planner: pure functions from (desired routed networks, observed weave routes, proxy
 * neighbour entries and sysctls) to an ordered list of operations, and from operations to command
 * lines (`ip -batch` lines, `sysctl -qw` arguments).
 *
 * Design note: weave owns the main table's routes of protocol 87 (both families) and the proxy
 * entries on its bridges (`weave`, `weave-*`); other routes and entries are never deleted. Routes
 * are written with `replace`, which is atomic, so a remote that moves to another peer never loses its
 * route; a weave route with a metric other than the kernel's default (0 for IPv4, 1024 for IPv6)
 * would survive a replace, so it is deleted. A replace also takes over another protocol's route to
 * the same address at the default metric: the address is a weave container on another host.
 * The order is: route deletes, proxy deletes, sysctls, route replaces, proxy adds, so that a bridge
 * answers ARP/ND for an address only once it is routed.
 * Sysctls (see routedSysctls) are only written when their value differs, so that a re-run writes
 * nothing (and works where /proc/sys is read-only but already right).
 */
import { isIP } from "node:net";
import { formatAddress, parseAddress } from "../core/index.js";
import { isWeaveBridgeName } from "./planner.js";
import { WEAVE_ROUTE_PROTO } from "./routed-types.js";
import type { RoutedNetwork, RoutedRemote } from "./routed-types.js";
import { bad, checkInterfaceName } from "./spec-checks.js";

/** A route of protocol 87 in the main table, from `ip -json [-6] route show proto 87`. */
export interface ObservedRoute {
  family: 4 | 6;
  /** Canonical CIDR (`10.40.0.3/32`, `fd40::3/128`, `0.0.0.0/0` for `default`). */
  dst: string;
  /** The next hop (canonical), of either family; undefined for a device route. */
  gateway?: string;
  dev?: string;
  /** 0 when `ip` prints none. */
  metric: number;
  /** False for other types (blackhole, ...) and multipath routes: never what weave wants. */
  unicast: boolean;
}

/** A proxy neighbour entry on a weave bridge, from `ip -json neigh show proxy`. */
export interface ObservedProxy {
  dev: string;
  /** Canonical address. */
  ip: string;
}

export interface ObservedRouted {
  routes: ObservedRoute[];
  proxies: ObservedProxy[];
  /** Current values of the sysctls that were read (routedSysctls keys); unreadable ones absent. */
  sysctls: Record<string, string>;
}

export type RoutedOp =
  | { op: "del-route"; dst: string; metric: number }
  /** `via` or `dev`, as in RoutedRemote; `ip` canonical. */
  | { op: "set-route"; ip: string; via?: string; dev?: string }
  | { op: "del-proxy"; dev: string; ip: string }
  | { op: "add-proxy"; dev: string; ip: string }
  | { op: "set-sysctl"; key: string; value: string };

/** The metric the kernel gives a route added without one. */
export function defaultMetric(family: 4 | 6): number {
  return family === 4 ? 0 : 1024;
}

/** Canonical text of a plain address, or undefined when it is none (zone IDs are refused). */
function canonical(ip: string): string | undefined {
  if (ip.includes("%") || isIP(ip) === 0) return undefined;
  return formatAddress(parseAddress(ip));
}

function family(ip: string): 4 | 6 {
  return isIP(ip) === 6 ? 6 : 4;
}

/** `10.40.0.3/32` or `fd40::3/128` for a (canonical) address. */
export function hostCidr(ip: string): string {
  return `${ip}/${family(ip) === 4 ? 32 : 128}`;
}

/**
 * A sysctl key naming an interface, in the form procps `sysctl` reads and prints: a dot in the
 * interface name is written as a slash (`net.ipv4.neigh.weave/x.proxy_delay`).
 */
function ifKey(prefix: string, ifname: string, leaf: string): string {
  return `${prefix}.${ifname.replaceAll(".", "/")}.${leaf}`;
}

/**
 * The sysctls the routed transport needs, as [key, value], for the networks that have remotes:
 * per bridge with IPv4 remotes, no proxy ARP delay (otherwise the kernel answers a broadcast request
 * after a random delay of up to 0.8 s) and IPv4 forwarding (the proxy only answers on a forwarding
 * host); per bridge with IPv6 remotes, proxy_ndp and no proxy ND delay, and IPv6 forwarding.
 */
export function routedSysctls(desired: readonly RoutedNetwork[]): [string, string][] {
  const out: [string, string][] = [];
  let v4 = false;
  let v6 = false;
  for (const { bridge, remotes } of desired) {
    const families = new Set(remotes.map((r) => family(r.ip)));
    if (families.has(4)) out.push([ifKey("net.ipv4.neigh", bridge, "proxy_delay"), "0"]);
    if (families.has(6)) {
      out.push([ifKey("net.ipv6.conf", bridge, "proxy_ndp"), "1"]);
      out.push([ifKey("net.ipv6.neigh", bridge, "proxy_delay"), "0"]);
    }
    v4 ||= families.has(4);
    v6 ||= families.has(6);
  }
  if (v4) out.push(["net.ipv4.ip_forward", "1"]);
  if (v6) out.push(["net.ipv6.conf.all.forwarding", "1"]);
  return out;
}

function checkRemote(bridge: string, r: RoutedRemote): void {
  const ip = canonical(r.ip);
  if (ip === undefined) throw bad(`Invalid remote address "${r.ip}" on ${bridge}: expected an IP address`);
  if ((r.via === undefined) === (r.dev === undefined)) {
    throw bad(`Remote "${r.ip}" on ${bridge} needs exactly one of via and dev`);
  }
  if (r.dev !== undefined) {
    checkInterfaceName(r.dev, "device name");
    // The kernel only proxies an address whose route leaves by another device.
    if (r.dev === bridge) throw bad(`Remote "${r.ip}" cannot be routed to its own bridge ${bridge}`);
    return;
  }
  const via = r.via ?? "";
  if (canonical(via) === undefined)
    throw bad(`Invalid next hop "${via}" for "${r.ip}": expected an IP address`);
  if (family(ip) === 6 && family(via) === 4) {
    // RTA_VIA is IPv4-only: "IPv6 does not support RTA_VIA attribute".
    throw bad(
      `Remote "${r.ip}" cannot be routed via the IPv4 address "${via}": the kernel has no IPv6 routes through IPv4 next hops`,
    );
  }
}

/**
 * Checks that desired networks can be rendered safely: weave bridge names (each once), remote
 * addresses, exactly one of `via` (an address; IPv4 remotes may go via IPv6, not the reverse) and
 * `dev` (an interface name, not the bridge), and no address twice across all networks.
 * Throws WEAVE_BAD_REQUEST naming the bad value.
 */
export function validateRouted(desired: readonly RoutedNetwork[]): void {
  const bridges = new Set<string>();
  const ips = new Map<string, string>();
  for (const { bridge, remotes } of desired) {
    checkInterfaceName(bridge, "bridge name");
    if (!isWeaveBridgeName(bridge)) {
      throw bad(`Invalid bridge name "${bridge}": weave's bridges are "weave" and "weave-*"`);
    }
    if (bridges.has(bridge)) throw bad(`Bridge ${bridge} is desired twice`);
    bridges.add(bridge);
    for (const r of remotes) {
      checkRemote(bridge, r);
      const ip = canonical(r.ip) ?? r.ip;
      const first = ips.get(ip);
      if (first !== undefined) throw bad(`Remote "${ip}" appears twice (on ${first} and ${bridge})`);
      ips.set(ip, bridge);
    }
  }
}

/** True when `route` is exactly what `remote` (whose address is the route's) asks for. */
function routeMatches(route: ObservedRoute, remote: RoutedRemote): boolean {
  if (!route.unicast || route.metric !== defaultMetric(route.family)) return false;
  if (remote.dev !== undefined) return route.gateway === undefined && route.dev === remote.dev;
  return remote.via !== undefined && route.gateway === canonical(remote.via);
}

/** The routes part of the plan: deletes, then replaces. */
function planRoutes(desired: readonly RoutedNetwork[], observed: readonly ObservedRoute[]): RoutedOp[][] {
  const want = new Map<string, RoutedRemote & { ip: string }>();
  for (const r of desired.flatMap((n) => n.remotes)) {
    const ip = canonical(r.ip) ?? r.ip;
    want.set(hostCidr(ip), { ...r, ip });
  }
  const dels: RoutedOp[] = [];
  const kept = new Set<string>();
  for (const route of observed) {
    const remote = want.get(route.dst);
    if (remote !== undefined && routeMatches(route, remote)) kept.add(route.dst);
    // A replace overwrites the route at the default metric; one at another metric would stay.
    else if (remote === undefined || route.metric !== defaultMetric(route.family)) {
      dels.push({ op: "del-route", dst: route.dst, metric: route.metric });
    }
  }
  const sets: RoutedOp[] = [];
  for (const [dst, r] of want) {
    if (kept.has(dst)) continue;
    const next = r.via !== undefined ? { via: canonical(r.via) ?? r.via } : { dev: r.dev ?? "" };
    sets.push({ op: "set-route", ip: r.ip, ...next });
  }
  return [dels, sets];
}

/**
 * The plan that makes weave's routes, proxy entries and sysctls what `desired` asks (assumed valid,
 * see validateRouted). Routes other than protocol 87 and proxy entries on other bridges are never
 * touched. Throws nothing.
 */
export function planRouted(desired: readonly RoutedNetwork[], observed: ObservedRouted): RoutedOp[] {
  const [routeDels = [], routeSets = []] = planRoutes(desired, observed.routes);
  const wantProxy = new Map<string, ObservedProxy>();
  for (const { bridge, remotes } of desired) {
    for (const r of remotes) {
      const ip = canonical(r.ip) ?? r.ip;
      wantProxy.set(`${bridge} ${ip}`, { dev: bridge, ip });
    }
  }
  const haveProxy = new Set<string>();
  const proxyDels: RoutedOp[] = [];
  for (const p of observed.proxies) {
    if (!isWeaveBridgeName(p.dev)) continue;
    const key = `${p.dev} ${p.ip}`;
    if (wantProxy.has(key)) haveProxy.add(key);
    else proxyDels.push({ op: "del-proxy", dev: p.dev, ip: p.ip });
  }
  const proxyAdds: RoutedOp[] = [...wantProxy]
    .filter(([key]) => !haveProxy.has(key))
    .map(([, p]) => ({ op: "add-proxy", dev: p.dev, ip: p.ip }));
  const sysctls: RoutedOp[] = routedSysctls(desired)
    .filter(([key, value]) => observed.sysctls[key]?.trim() !== value)
    .map(([key, value]) => ({ op: "set-sysctl", key, value }));
  return [...routeDels, ...proxyDels, ...sysctls, ...routeSets, ...proxyAdds];
}

/**
 * Checks `desired` now (validateRouted: WEAVE_BAD_REQUEST before anything is run) and returns the
 * plan to run against the state as observed later (planRouted).
 */
export function routedPlan(desired: readonly RoutedNetwork[]): (observed: ObservedRouted) => RoutedOp[] {
  validateRouted(desired);
  return (observed) => planRouted(desired, observed);
}

/** Which tool carries out an operation: `ip -batch -`, or `sysctl -qw` for set-sysctl. */
export function routedOpTool(op: RoutedOp): "ip" | "sysctl" {
  return op.op === "set-sysctl" ? "sysctl" : "ip";
}

/**
 * The lines of one operation: `ip -batch` lines (without the leading `ip`), or for set-sysctl the
 * `KEY=VALUE` argument of `sysctl -qw` (see routedOpTool).
 */
export function renderRoutedOp(op: RoutedOp): string[] {
  const proto = `proto ${WEAVE_ROUTE_PROTO}`;
  switch (op.op) {
    case "del-route":
      return [`route del ${op.dst} ${proto} metric ${op.metric}`];
    case "set-route": {
      if (op.dev !== undefined) return [`route replace ${hostCidr(op.ip)} dev ${op.dev} ${proto}`];
      const via = op.via ?? "";
      // An IPv4 route through an IPv6 next hop needs the family named (RTA_VIA, Linux 5.2).
      const cross = family(via) !== family(op.ip) ? "inet6 " : "";
      return [`route replace ${hostCidr(op.ip)} via ${cross}${via} ${proto}`];
    }
    case "del-proxy":
      return [`neigh del proxy ${op.ip} dev ${op.dev}`];
    case "add-proxy":
      return [`neigh replace proxy ${op.ip} dev ${op.dev}`];
    case "set-sysctl":
      return [`${op.key}=${op.value}`];
  }
}

/** Short human-readable description of an operation, e.g. `set route 10.40.0.3/32 via 192.168.1.2`. */
export function describeRoutedOp(op: RoutedOp): string {
  switch (op.op) {
    case "del-route":
      return `delete route ${op.dst}`;
    case "set-route": {
      const next = op.dev !== undefined ? `dev ${op.dev}` : `via ${op.via ?? ""}`;
      return `set route ${hostCidr(op.ip)} ${next}`;
    }
    case "del-proxy":
      return `delete proxy ${op.ip} on ${op.dev}`;
    case "add-proxy":
      return `add proxy ${op.ip} on ${op.dev}`;
    case "set-sysctl":
      return `set sysctl ${op.key}=${op.value}`;
  }
}
