/**
 * The composition of the daemon: which component gets which port. Pure wiring: it constructs,
 * starts nothing, touches no socket, process or file. The daemon (daemon.ts) gives it the real
 * adapters; tests give it fakes and get the same graph.
 *
 *   state ─► IpamService ─► cluster port (LocalCluster, or Cluster over the cluster store)
 *                                 │ bindNetwork          ▲ driver events
 *                                 ▼                      │
 *            NetworkDriver ── events ──► cluster, weaveDNS (gateways), IPAM (refused subnets)
 *            PortPublisher, DnsService, DockerSync, metrics
 *            plugin routes ─► PluginServer;  control routes ─► ControlServer;  StatusServer
 *
 * Nothing refers to a component before it exists: the two late links (a port conflict asks the
 * Docker sync for a pass, a DNS query counts in the metrics) go through event streams subscribed
 * once both ends exist.
 */
import type { Config } from "../config/index.js";
import type { Clock, Logger } from "../core/index.js";
import { EventStream, KeyedSerialQueue } from "../core/index.js";
import type { ClusterPort, KeyStore, Transport } from "../cluster/index.js";
import {
  Cluster,
  LocalCluster,
  noWireguard,
  OVERHEAD,
  routedTransport,
  tunnelAddress,
  vxlanTransport,
  WireguardLayer,
} from "../cluster/index.js";
import type {
  Dataplane,
  OverlayDataplane,
  RoutedDataplane,
  SysctlPort,
  WireguardDataplane,
} from "../dataplane/index.js";
import { DEFAULT_BRIDGE, NeighLimits } from "../dataplane/index.js";
import type { DockerApi } from "../docker/index.js";
import { NetworkDriver } from "../driver/index.js";
import { IpamService, parsePrefix } from "../ipam/index.js";
import type { WeaveMetrics } from "../metrics/index.js";
import type { Route } from "../plugin-api/index.js";
import { buildRoutes, PluginServer } from "../plugin-api/index.js";
import type { PortDataplane, PortRange, PortReserver } from "../ports/index.js";
import { PortPublisher } from "../ports/index.js";
import type { StatusServer } from "../status/index.js";
import type { ClusterStore, LocalState } from "../store/index.js";
import { controlSocketPath } from "../config/index.js";
import { controlRoutes } from "./control-routes.js";
import { ControlServer } from "./control-server.js";
import { DnsService } from "./dns-service.js";
import { DockerSync } from "./docker-sync.js";
import { deviceName } from "./password.js";
import { clusterPeers, createStatusServer, daemonMetrics } from "./observability.js";

/** The outside world: every process, socket and kernel access the daemon makes. */
export interface Adapters {
  state: LocalState;
  dataplane: Dataplane;
  docker: DockerApi;
  ports: { dataplane: PortDataplane; reserver: PortReserver };
  /** Multi-host (`--store`): the cluster store and the transports' data planes. Absent on a host alone. */
  cluster?: ClusterAdapters;
  /** Time and timers of every loop (realClock; a FakeClock in tests). */
  clock: Clock;
}

export interface ClusterAdapters {
  store: ClusterStore;
  overlay: OverlayDataplane;
  routed: RoutedDataplane;
  wireguard: WireguardDataplane;
  /** The kernel's parameters (the neighbour table limits the VXLAN transport raises). */
  sysctl: SysctlPort;
  /** This host's WireGuard key pair (the state directory's key file). */
  keys: KeyStore;
}

/** What the daemon found out about this host before composing (host.ts). */
export interface HostFacts {
  /** The MTU of containers and bridges. */
  mtu: number;
  /** The MTU of the underlay device (the advertise address's; 0 on a host alone). */
  underlayMtu: number;
  /** The subnets (CIDR) of this host's own interface addresses: `--transport auto` routes to peers there. */
  attached: string[];
  /** Derived from the password (--password-file, WEAVE_PASSWORD); undefined without one. */
  presharedKey?: string | undefined;
  /** This host's address in the cluster ("" on a host alone). */
  advertiseAddr: string;
  /** The host's IPv6 ULA /48 for weave's IPv6 pools. */
  ulaRange: string;
  /** The kernel's ephemeral port range (host ports Docker's bridge picks from). */
  ephemeral: PortRange;
  /** The group that owns the plugin socket. */
  socketGid: number;
}

export interface Daemon {
  state: LocalState;
  ipam: IpamService;
  cluster: ClusterPort;
  driver: NetworkDriver;
  ports: PortPublisher;
  dns: DnsService | undefined;
  sync: DockerSync;
  metrics: WeaveMetrics;
  /** The plugin protocol's route table, served by `plugin`. */
  routes: Map<string, Route>;
  plugin: PluginServer;
  control: ControlServer;
  status: StatusServer | undefined;
  queue: KeyedSerialQueue;
}

export interface ComposeOptions {
  config: Config;
  adapters: Adapters;
  facts: HostFacts;
  logger: Logger;
  /** Called when the control API is asked to stop the daemon. */
  stop: () => void;
}

export function composeDaemon(o: ComposeOptions): Daemon {
  const { core, dnsQueries } = composeCore(o);
  const { config, adapters, facts, logger: log } = o;
  const metrics = daemonMetrics({
    state: adapters.state,
    dockerReachable: () => core.sync.status === "reachable",
    ...(adapters.cluster ? { peers: () => clusterPeers(core.cluster) } : {}),
  });
  dnsQueries.subscribe((q) => metrics.dnsQuery(q.qtype, q.outcome, q.count));
  const routes = buildRoutes({
    driver: core.driver,
    ports: core.ports,
    cluster: core.cluster,

    hostRoutes: async () => (await adapters.dataplane.hostRoutes()).map((r) => parsePrefix(r)),
  });
  const plugin = new PluginServer({
    socketPath: config.socket,
    socketMode: 0o660,
    socketGid: facts.socketGid,
    routes,
    logger: log.child("plugin"),
    observe: metrics.pluginCall,
  });
  const views = { config, state: adapters.state, docker: adapters.docker, sync: core.sync, dns: core.dns };
  const control = new ControlServer(
    controlSocketPath(config.runDir),
    controlRoutes({ ...views, mtu: facts.mtu, cluster: core.cluster, stop: o.stop }),
    log.child("control"),
  );
  const status = createStatusServer({
    ...views,
    mtu: facts.mtu,
    metrics,
    cluster: core.cluster,
    logger: log.child("status"),
  });
  return { ...core, metrics, routes, plugin, control, status };
}

type DnsQuery = { qtype: string; outcome: string; count: number };

/** The components behind the servers, and the event wiring between them. */
function composeCore(o: ComposeOptions) {
  const { config, adapters, facts, logger: log } = o;
  const { state, dataplane, docker, clock } = adapters;
  const now = () => clock.now();
  const queue = new KeyedSerialQueue();
  const ipam = new IpamService(
    state,
    {
      range: parsePrefix(config.ipallocRange, { strict: true }),
      subnetBits: 24,
      rangeV6: parsePrefix(facts.ulaRange),
      subnetBitsV6: 64,
      replayWindowMs: 60_000,
    },
    now,
  );
  const dnsQueries = new EventStream<DnsQuery>();
  const dns = config.noDns
    ? undefined
    : new DnsService({
        config,
        state,
        docker,
        queue,
        logger: log.child("dns"),
        onQuery: (qtype, outcome, count) => dnsQueries.emit({ qtype, outcome, count }),
      });
  const cluster = composeCluster(o, ipam, dns);
  const driver = new NetworkDriver({
    state,
    dataplane,
    queue,
    logger: log.child("driver"),
    config: { mtu: facts.mtu, nameserver: config.nameserver },
    now,
    cluster,
  });
  const portConflicts = new EventStream<void>();
  const ports = new PortPublisher({
    state,
    dataplane: adapters.ports.dataplane,
    reserver: adapters.ports.reserver,
    queue,
    logger: log.child("ports"),
    now,
    ephemeral: facts.ephemeral,
    onAllocatedConflict: () => portConflicts.emit(),
  });
  const sync = new DockerSync({
    docker,
    dataplane,
    driverName: config.driverName,
    state,
    driver,
    ipam,
    logger: log.child("docker"),
    defaultNetwork: config.defaultNetwork,
    defaultBridge: DEFAULT_BRIDGE,
    now,
    clock,
    graceMs: 30_000,
    intervalMs: 10_000,
    onAdopted: () => void dns?.reconcile().catch(() => undefined),
    afterRepair: () => ports.converge(),
    defaultNetworkBody: () => cluster.defaultNetworkBody(),
  });
  // A port held by an endpoint Docker may have lost: let the sync check now (outside the plugin call).
  portConflicts.subscribe(() => void sync.syncNow().catch(() => undefined));
  driver.events.subscribe((event) => {
    if (event.kind === "subnets-clash") ipam.expectRollback(event.pools);
    if (event.kind === "network-created" || event.kind === "network-removed") void dns?.updateAddresses();
    cluster.driverEvent(event);
  });
  return { core: { state, queue, ipam, cluster, driver, ports, dns, sync }, dnsQueries };
}

/** The cluster port: over the cluster store with `--store`, else this host alone. */
function composeCluster(o: ComposeOptions, ipam: IpamService, dns: DnsService | undefined): ClusterPort {
  const { config, adapters, facts, logger } = o;
  if (!adapters.cluster) return new LocalCluster({ ipam, pools: adapters.state });
  const c = adapters.cluster;
  const encryption = facts.presharedKey === undefined ? undefined : wireguardLayer(o, c, facts.presharedKey);
  const transports: Transport[] = [
    encryption ?? noWireguard(c.wireguard),
    vxlanTransport(
      c.overlay,
      config.vxlanPort,
      new NeighLimits({ sysctl: c.sysctl, logger: logger.child("neigh-limits") }),
    ),
    routedTransport(c.routed),
  ];
  return new Cluster({
    store: c.store,
    storeUrl: config.store,
    state: adapters.state,
    docker: adapters.docker,
    ipam,
    transports,
    transport: { mode: config.transport, attached: facts.attached, underlayMtu: facts.underlayMtu },
    encryption,
    containerMtu: facts.mtu,
    logger: logger.child("cluster"),
    now: () => adapters.clock.now(),
    clock: adapters.clock,
    name: config.name,
    advertiseAddr: facts.advertiseAddr,
    vxlanPort: config.vxlanPort,
    driverName: config.driverName,
    defaultNetwork: config.defaultNetwork,
    ...(dns ? { dnsZone: dns.zone } : {}),
  });
}

/** This host's WireGuard identity and layer (with a password). */
function wireguardLayer(o: ComposeOptions, c: ClusterAdapters, presharedKey: string): WireguardLayer {
  const { config, facts, adapters } = o;
  return new WireguardLayer({
    dataplane: c.wireguard,
    keys: c.keys,
    presharedKey,
    device: deviceName(config),
    port: config.wireguardPort,
    tunnel: tunnelAddress(config.name),
    mtu: facts.underlayMtu - OVERHEAD.wireguard,
    now: () => adapters.clock.now(),
  });
}
