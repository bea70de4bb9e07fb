/**
 * The parts of multi-host weave over one store, built in one place (Cluster coordinates them):
 *
 *   StoreHealth     whether the store answers, for every part
 *   Session         this host's lease and peers/<name>
 *   PrefixMirror x5 peers, pools, networks, endpoints, dns: local copies kept by watches
 *   ClusterView     typed reads of the mirrors
 *   ClusterIpam     cluster-wide subnets and per-host address blocks around the local IPAM
 *   NetworkSync     networks published, created in this Docker, removed (outside plugin calls)
 *   TransportSync   the path to each peer, and every transport programmed from the view
 *   publishers      this host's endpoints and DNS records under its lease
 *   DnsReplica      weaveDNS records in and out (without --no-dns)
 * A mirror's change is announced on `changes`; the parts never call Cluster back.
 */
import type { Clock, EventStream, Logger } from "../core/index.js";
import { VERSION } from "../core/index.js";
import { DEFAULT_BRIDGE } from "../dataplane/index.js";
import type { DockerApi } from "../docker/index.js";
import type { IpamService } from "../ipam/index.js";
import type { ClusterStore, KeyValue, LocalState } from "../store/index.js";
import { ClusterIpam } from "./cluster-ipam.js";
import type { ReplicaZone } from "./dns-replica.js";
import { DnsReplica } from "./dns-replica.js";
import { StoreHealth } from "./health.js";
import { type MirrorChange, type MirrorOptions, PrefixMirror } from "./mirror.js";
import { NetworkSync } from "./network-sync.js";
import type { TransportMode } from "./paths.js";
import { TransportSync } from "./transport-sync.js";
import type { Transport } from "./transports/transport.js";
import type { WireguardLayer } from "./wireguard-layer.js";
import { PeerTracker } from "./peers.js";
import { LeasedPublisher } from "./publisher.js";
import { DNS, dnsPrefix, endpointPrefix, ENDPOINTS, NETWORKS, PEERS, POOLS } from "./records.js";
import { Session } from "./session.js";
import type { RemoteEndpointView } from "./view.js";
import { ClusterView, endpointKeeper } from "./view.js";

export interface ClusterOptions {
  store: ClusterStore;
  /** The --store URL, for messages. */
  storeUrl: string;
  state: LocalState;
  docker: DockerApi;
  ipam: IpamService;
  /** The transports, in the order they run (the WireGuard layer, or its removal, first). */
  transports: readonly Transport[];
  /** How the path to each peer is chosen. */
  transport: TransportChoice;
  /** Set when this host encrypts (a password): its identity, published with its peer record. */
  encryption?: WireguardLayer | undefined;
  /** The MTU of this host's containers (shown as the path MTU when the path carries more). */
  containerMtu: number;
  logger: Logger;
  now: () => number;
  name: string;
  advertiseAddr: string;
  vxlanPort: number;
  driverName: string;
  defaultNetwork: string;
  /** weaveDNS's zone: this host's records are published, the others' applied (none with --no-dns). */
  dnsZone?: ReplicaZone;
  intervalMs?: number;
  sweepMs?: number;
  /** The timers of every loop (default: the real clock). */
  clock?: Clock | undefined;
}

export interface TransportChoice {
  mode: TransportMode;
  /** The subnets (CIDR) of this host's interface addresses. */
  attached: readonly string[];
  underlayMtu: number;
}

export type MirrorName = "peers" | "pools" | "networks" | "endpoints" | "dns";

/** A change of one mirror (undefined `change`: a change not described, as after a listing). */
export interface MirrorEvent {
  mirror: MirrorName;
  change: MirrorChange;
}

export interface ClusterParts {
  health: StoreHealth;
  session: Session;
  mirrors: {
    peers: PrefixMirror;
    pools: PrefixMirror;
    networks: PrefixMirror;
    endpoints: PrefixMirror<RemoteEndpointView | undefined>;
    dns: PrefixMirror<never>;
  };
  view: ClusterView;
  ipam: ClusterIpam;
  networkSync: NetworkSync;
  transportSync: TransportSync;
  endpointsPublisher: LeasedPublisher;
  dnsPublisher: LeasedPublisher;
  dnsReplica: DnsReplica | undefined;
  peers: PeerTracker;
}

export function buildClusterParts(o: ClusterOptions, changes: EventStream<MirrorEvent>): ClusterParts {
  const { store, logger, now, state, clock } = o;
  const health = new StoreHealth(logger, now, o.storeUrl);
  const peer = {
    name: o.name,
    address: o.advertiseAddr,
    vxlanPort: o.vxlanPort,
    version: VERSION,
    startedAt: now(),
    ...(o.encryption ? { wireguard: o.encryption.record() } : {}),
  };
  const session = new Session({ store, health, state, logger, now, clock, peer });
  const mirror = <T = KeyValue>(name: MirrorName, prefix: string, keep?: MirrorOptions<T>["keep"]) =>
    new PrefixMirror<T>({
      store,
      prefix,
      logger,
      clock,
      onChange: (change) => changes.emit({ mirror: name, change }),
      onHealth: (ok, error) => (ok ? health.ok() : health.failed(error ?? "")),
      ...(keep !== undefined ? { keep } : {}),
    });
  const mirrors = {
    peers: mirror("peers", PEERS),
    pools: mirror("pools", POOLS),
    networks: mirror("networks", NETWORKS),
    // One representation per record: the endpoints parsed, the DNS records in the zone alone.
    endpoints: mirror("endpoints", ENDPOINTS, endpointKeeper(logger)),
    dns: mirror<never>("dns", DNS, false),
  };
  const view = new ClusterView(mirrors, logger);
  const ipam = new ClusterIpam({
    ipam: o.ipam,
    state,
    store,
    health,
    host: o.name,
    now,
    logger,
    sharedAddresses: (clusterId) => sharedAddresses(view, clusterId),
    isPublished: (clusterId) => view.networkById(clusterId) !== undefined,
  });
  const networkSync = new NetworkSync({
    store,
    health,
    view,
    state,
    docker: o.docker,
    driverName: o.driverName,
    host: o.name,
    logger,
    now,
    defaultNetwork: o.defaultNetwork,
    defaultBridge: DEFAULT_BRIDGE,
  });
  const publisher = (prefix: string) =>
    new LeasedPublisher({ store, health, session, prefix, logger, clock });
  const dnsPublisher = publisher(dnsPrefix(o.name));
  const dnsReplica =
    o.dnsZone && new DnsReplica({ zone: o.dnsZone, host: o.name, publisher: dnsPublisher, logger });
  return {
    health,
    session,
    mirrors,
    view,
    ipam,
    networkSync,
    transportSync: transportSync(o, view),
    endpointsPublisher: publisher(endpointPrefix(o.name)),
    dnsPublisher,
    dnsReplica,
    peers: new PeerTracker(o.name, logger, now),
  };
}

function transportSync(o: ClusterOptions, view: ClusterView): TransportSync {
  const { encryption } = o;
  return new TransportSync({
    transports: o.transports,
    logger: o.logger,
    clock: o.clock,
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
    local: o.advertiseAddr,
    paths: () => ({ ...o.transport, ...(encryption ? { verify: (p) => encryption.verify(p) } : {}) }),
    tunnel: () => encryption?.tunnelSelf(),
    inputs: () =>
      view.synced
        ? {
            host: o.name,
            networks: o.state.listNetworks(),
            cluster: view.networks(),
            peers: view.peers(),
            // Read on whole passes only: a slice pass looks up the endpoints that changed.
            get endpoints() {
              return view.endpoints();
            },
          }
        : undefined,
    endpoint: (key) => view.endpoint(key),
  });
}

/** Addresses every host of a cluster network keeps free: its gateways and aux addresses. */
function sharedAddresses(view: ClusterView, clusterId: string): ReadonlySet<string> {
  const n = view.networkById(clusterId);
  const out = new Set<string>();
  for (const s of [...(n?.ipv4 ?? []), ...(n?.ipv6 ?? [])]) {
    if (s.gateway) out.add(s.gateway);
    for (const a of Object.values(s.aux ?? {})) out.add(a);
  }
  return out;
}
