/**
 * weave's metrics: what the daemon counts (plugin calls, DNS queries) and what it reads at scrape
 * time (IPAM use, networks, endpoints, peers, Docker). The sources are injected functions, so this
 * module knows nothing of the state, Docker or the servers; see docs/operations.md for the list.
 */
import { Registry } from "./registry.js";
import type { PoolUsage } from "./ipam-usage.js";

/** A peer of this host and its state; a single host has one: `{ name: "self", state: "up" }`. */
export interface PeerState {
  name: string;
  /** `up` or `down`. */
  state: string;
  /** Multi-host: how this host reaches the peer (absent for this host itself). */
  path?: PeerPathMetrics;
}

export interface PeerPathMetrics {
  transport: string;
  encryption: string;
  mtu: number | null;
  /** Seconds since the last WireGuard handshake; null when none or not encrypted. */
  handshakeAgeS: number | null;
  /** The path carries traffic (programmed, and a fresh handshake when encrypted). */
  up: boolean;
}

export interface WeaveMetricsSources {
  version: string;
  pools: () => readonly PoolUsage[];
  networks: () => number;
  endpoints: () => number;
  peers: () => readonly PeerState[];
  dockerReachable: () => boolean;
}

export interface WeaveMetrics {
  readonly registry: Registry;
  /** Records a plugin call (PluginServer's `observe`): method, `ok`/`error`/`not_found`, seconds. */
  readonly pluginCall: (method: string, outcome: string, seconds: number) => void;
  /** Records `count` DNS queries (DnsService's `onQuery`) of a type with an outcome. */
  readonly dnsQuery: (qtype: string, outcome: string, count: number) => void;
}

/** Plugin call latency buckets, in seconds: a Join may wait behind other work on its network. */
export const PLUGIN_CALL_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The peers of a host that runs alone (no multi-host yet). */
export const SINGLE_HOST_PEERS: readonly PeerState[] = [{ name: "self", state: "up" }];

/** Registers every weave metric in a new registry. Does not block; sources are read per scrape. */
export function createWeaveMetrics(sources: WeaveMetricsSources): WeaveMetrics {
  const registry = new Registry();
  registry.gaugeCallback({
    name: "weave_build_info",
    help: "Always 1; the label gives the version of the weave daemon.",
    labelNames: ["version"],
    collect: () => [{ labels: { version: sources.version }, value: 1 }],
  });
  const calls = registry.counter({
    name: "weave_plugin_calls_total",
    help: "Calls from Docker to the network and IPAM plugin, by method and outcome (ok, error, not_found).",
    labelNames: ["method", "outcome"],
  });
  const durations = registry.histogram({
    name: "weave_plugin_call_duration_seconds",
    help: "Time weave took to answer a plugin call, in seconds, by method.",
    labelNames: ["method"],
    buckets: PLUGIN_CALL_BUCKETS,
  });
  const queries = registry.counter({
    name: "weave_dns_queries_total",
    help: "Queries weaveDNS answered, by query type (other for types without a mnemonic) and outcome (answer, nxdomain, nodata, forwarded, servfail, refused, formerr).",
    labelNames: ["qtype", "outcome"],
  });
  registry.gaugeCallback({
    name: "weave_ipam_pool_addresses",
    help: "Addresses allocated in the allocatable range of an IPAM pool.",
    labelNames: ["pool"],
    collect: () => sources.pools().map((p) => ({ labels: { pool: p.pool }, value: p.allocated })),
  });
  registry.gaugeCallback({
    name: "weave_ipam_pool_size",
    help: "Usable addresses in the allocatable range of an IPAM pool (rounded above 2^53).",
    labelNames: ["pool"],
    collect: () => sources.pools().map((p) => ({ labels: { pool: p.pool }, value: p.size })),
  });
  registry.gaugeCallback({
    name: "weave_networks",
    help: "Weave networks on this host.",
    collect: () => [{ value: sources.networks() }],
  });
  registry.gaugeCallback({
    name: "weave_endpoints",
    help: "Endpoints (container interfaces) on weave networks on this host.",
    collect: () => [{ value: sources.endpoints() }],
  });
  registry.gaugeCallback({
    name: "weave_peers",
    help: "Weave peers known to this host (itself included), by state (up, down).",
    labelNames: ["state"],
    collect: () => {
      const byState = new Map<string, number>();
      for (const p of sources.peers()) byState.set(p.state, (byState.get(p.state) ?? 0) + 1);
      return [...byState].map(([state, value]) => ({ labels: { state }, value }));
    },
  });
  registerPathMetrics(registry, sources);
  registry.gaugeCallback({
    name: "weave_docker_reachable",
    help: "1 when the Docker API answered weave's last request, else 0.",
    collect: () => [{ value: sources.dockerReachable() ? 1 : 0 }],
  });
  return {
    registry,
    pluginCall: (method, outcome, seconds) => {
      calls.inc({ method, outcome });
      durations.observe({ method }, seconds);
    },
    // Types without a mnemonic (`TYPE65280`) are counted as "other": a client must not be able to
    // create thousands of series.
    dnsQuery: (qtype, outcome, count) =>
      queries.inc({ qtype: /^TYPE\d+$/.test(qtype) ? "other" : qtype, outcome }, count),
  };
}

/** The per-peer path metrics of a multi-host host (none on a host alone). */
function registerPathMetrics(registry: Registry, sources: WeaveMetricsSources): void {
  const paths = () => sources.peers().flatMap((p) => (p.path ? [{ peer: p.name, ...p.path }] : []));
  registry.gaugeCallback({
    name: "weave_peer_info",
    help: "Always 1 per peer; the labels give the transport to it (routed, vxlan) and its encryption (none, wireguard, mismatch).",
    labelNames: ["peer", "transport", "encryption"],
    collect: () =>
      paths().map((p) => ({
        labels: { peer: p.peer, transport: p.transport, encryption: p.encryption },
        value: 1,
      })),
  });
  registry.gaugeCallback({
    name: "weave_peer_up",
    help: "1 when the path to the peer carries traffic (programmed, and a WireGuard handshake within 180 s when encrypted), else 0.",
    labelNames: ["peer"],
    collect: () => paths().map((p) => ({ labels: { peer: p.peer }, value: p.up ? 1 : 0 })),
  });
  registry.gaugeCallback({
    name: "weave_peer_mtu_bytes",
    help: "The largest IP packet a container on this host can send to the peer's containers.",
    labelNames: ["peer"],
    collect: () =>
      paths().flatMap((p) => (p.mtu === null ? [] : [{ labels: { peer: p.peer }, value: p.mtu }])),
  });
  registry.gaugeCallback({
    name: "weave_wireguard_handshake_age_seconds",
    help: "Seconds since the last WireGuard handshake with the peer (encrypted peers that had one).",
    labelNames: ["peer"],
    collect: () =>
      paths().flatMap((p) =>
        p.handshakeAgeS === null ? [] : [{ labels: { peer: p.peer }, value: p.handshakeAgeS }],
      ),
  });
}
