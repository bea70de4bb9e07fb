/**
 * Multi-host weave on one host: the composition of the cluster parts over one store.
 *
 *   Session         this host's lease and peers/<name>
 *   PrefixMirror x5 peers, pools, networks, endpoints, dns: local copies kept by watches
 *   ClusterView     typed reads of the mirrors
 *   ClusterIpam     cluster-wide subnets and per-host address blocks around the local IPAM
 *   NetworkSync     networks published, created in this Docker, removed (outside plugin calls)
 *   OverlaySync     VXLAN devices, FDB and neighbour entries from the view
 *   publishers      this host's endpoints and DNS records under its lease
 *   sweep           IPAM clean-up every 30 s
 * Every watch change schedules the work it affects; everything also runs periodically, so a change
 * missed while the store was unreachable is caught up when it is back.
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, Reconciler, VERSION, WeaveError } from "../core/index.js";
import type { OverlayDataplane } from "../dataplane/index.js";
import type { DriverEvent } from "../driver/index.js";
import { DEFAULT_BRIDGE } from "../dataplane/index.js";
import type { CreateNetworkBody, DockerApi } from "../docker/index.js";
import { clusterIdOf } from "../store/index.js";
import type { IpamService } from "../ipam/index.js";
import type { ClusterStore, LocalState } from "../store/index.js";
import { ClusterIpam } from "./cluster-ipam.js";
import type { ReplicaZone } from "./dns-replica.js";
import { DnsReplica } from "./dns-replica.js";
import { StoreHealth } from "./health.js";
import { PrefixMirror } from "./mirror.js";
import { NetworkSync } from "./network-sync.js";
import { OverlaySync } from "./overlay-sync.js";
import { LeasedPublisher } from "./publisher.js";
import { DNS, dnsPrefix, endpointKey, endpointPrefix, ENDPOINTS, NETWORKS, PEERS, POOLS } from "./records.js";
import type { ClusterPort, ClusterStatus } from "./port.js";
import { PeerTracker, removePeer } from "./peers.js";
import { Session } from "./session.js";
import { sweep } from "./sweeper.js";
import { ClusterView } from "./view.js";

export interface ClusterOptions {
  store: ClusterStore;
  /** The --store URL, for messages. */
  storeUrl: string;
  state: LocalState;
  docker: DockerApi;
  ipam: IpamService;
  overlay: OverlayDataplane;
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
  /** The timers of every loop below (default: the real clock). */
  clock?: Clock | undefined;
}

export class Cluster implements ClusterPort {
  readonly health: StoreHealth;
  readonly session: Session;
  readonly view: ClusterView;
  readonly ipam: ClusterIpam;
  private readonly mirrors: Record<"peers" | "pools" | "networks" | "endpoints" | "dns", PrefixMirror>;
  private readonly networkSync: NetworkSync;
  private readonly overlaySync: OverlaySync;
  private readonly endpointsPublisher: LeasedPublisher;
  private readonly dnsPublisher: LeasedPublisher;
  private readonly dnsReplica: DnsReplica | undefined;
  private readonly peers: PeerTracker;
  /** Network passes: one at a time, another 200 ms after it when asked for meanwhile. */
  private readonly networkLoop: Reconciler;
  /** The periodic loops, from start(). */
  private periodic: Reconciler[] = [];

  constructor(private readonly o: ClusterOptions) {
    const { store, logger, now, state, clock } = o;
    this.health = new StoreHealth(logger, now, o.storeUrl);
    this.peers = new PeerTracker(o.name, logger);
    this.session = new Session({
      store,
      health: this.health,
      state,
      logger,
      now,
      clock,
      peer: {
        name: o.name,
        address: o.advertiseAddr,
        vxlanPort: o.vxlanPort,
        version: VERSION,
        startedAt: now(),
      },
    });
    const mirror = (prefix: string, onChange: () => void) =>
      new PrefixMirror({
        store,
        prefix,
        logger,
        onChange,
        clock,
        onHealth: (ok, error) => (ok ? this.health.ok() : this.health.failed(error ?? "")),
      });
    this.mirrors = {
      peers: mirror(PEERS, () => this.peersChanged()),
      pools: mirror(POOLS, () => this.kickNetworks()),
      networks: mirror(NETWORKS, () => {
        this.kickNetworks();
        this.overlaySync.kick();
      }),
      endpoints: mirror(ENDPOINTS, () => this.overlaySync.kick()),
      dns: mirror(DNS, () => this.dnsReplica?.apply()),
    };
    this.view = new ClusterView(this.mirrors, logger);
    this.ipam = new ClusterIpam({
      ipam: o.ipam,
      state,
      store,
      health: this.health,
      host: o.name,
      now,
      logger,
      sharedAddresses: (clusterId) => this.sharedAddresses(clusterId),
      isPublished: (clusterId) => this.view.networkById(clusterId) !== undefined,
    });
    this.networkSync = new NetworkSync({
      store,
      health: this.health,
      view: this.view,
      state,
      docker: o.docker,
      driverName: o.driverName,
      host: o.name,
      logger,
      now,
      defaultNetwork: o.defaultNetwork,
      defaultBridge: DEFAULT_BRIDGE,
    });
    this.overlaySync = new OverlaySync({
      overlay: o.overlay,
      logger,
      clock,
      inputs: () =>
        this.view.synced
          ? {
              host: o.name,
              local: o.advertiseAddr,
              port: o.vxlanPort,
              networks: state.listNetworks(),
              cluster: this.view.networks(),
              peers: this.view.peers(),
              endpoints: this.view.endpoints(),
            }
          : undefined,
    });
    const publisher = (prefix: string) =>
      new LeasedPublisher({ store, health: this.health, session: this.session, prefix, logger, clock });
    this.endpointsPublisher = publisher(endpointPrefix(o.name));
    this.dnsPublisher = publisher(dnsPrefix(o.name));
    this.dnsReplica =
      o.dnsZone &&
      new DnsReplica({
        zone: o.dnsZone,
        host: o.name,
        mirror: this.mirrors.dns,
        publisher: this.dnsPublisher,
        logger,
      });
    this.networkLoop = this.networkReconciler();
    this.health.onChange((reachable) => {
      if (reachable) this.kickNetworks();
    });
  }

  start(): void {
    this.session.start();
    for (const m of Object.values(this.mirrors)) m.start();
    this.dnsReplica?.start();
    this.endpointsChanged();
    this.overlaySync.start();
    const { intervalMs = 10_000, sweepMs = 30_000 } = this.o;
    const tick = this.every(intervalMs, "cluster periodic pass failed", async () => {
      this.kickNetworks();
      this.endpointsChanged();
    });
    tick.start(intervalMs);
    const sweeper = this.every(sweepMs, "cluster sweep failed", () => sweep(this.sweepDeps()));
    // Once soon after start too: blocks a lost state forgot are taken back before they are needed.
    sweeper.start(Math.min(5_000, sweepMs));
  }

  async close(): Promise<void> {
    const loops = [this.networkLoop, ...this.periodic].map((l) => l.close());
    this.dnsReplica?.close();
    this.endpointsPublisher.close();
    this.dnsPublisher.close();
    for (const m of Object.values(this.mirrors)) m.close();
    await this.overlaySync.close();
    await Promise.all(loops);
    await this.session.close();
    await this.o.store.close();
  }

  /** Binds every pool of a new network (reserved here) to one cluster ID. */
  bindNetwork(pools: { ipv4: readonly string[]; ipv6: readonly string[] }): Promise<string | undefined> {
    return this.ipam.bindNetwork([...pools.ipv4, ...pools.ipv6]);
  }

  driverEvent(event: DriverEvent): void {
    switch (event.kind) {
      case "network-created":
      case "network-removed":
        this.networksChanged();
        return;
      case "endpoint-added":
      case "endpoint-removed":
        this.endpointsChanged();
        return;
      case "subnets-clash":
        return;
    }
  }

  /** A local endpoint appeared or went: publish this host's endpoints again. */
  endpointsChanged(): void {
    const { state, name } = this.o;
    const byNetwork = new Map(state.listNetworks().map((n) => [n.id, clusterIdOf(n)]));
    const desired = new Map<string, string>();
    for (const ep of state.listEndpoints()) {
      const clusterId = byNetwork.get(ep.networkId);
      if (!clusterId) continue;
      desired.set(
        endpointKey(name, clusterId, ep.id),
        JSON.stringify({ mac: ep.mac, ipv4: ep.ipv4 ?? "", ipv6: ep.ipv6 ?? "" }),
      );
    }
    this.endpointsPublisher.replace(desired);
  }

  /** A local network appeared or went. */
  networksChanged(): void {
    this.kickNetworks();
    this.overlaySync.kick();
    this.endpointsChanged();
  }

  /** Before Docker removes a network here: remove it from the cluster (or refuse). */
  beforeNetworkDelete(networkId: string): Promise<void> {
    return this.networkSync.removeFromCluster(networkId);
  }

  /**
   * How to create the default network in this host's Docker: from its cluster record when the cluster
   * has it, else as a new network (`undefined`). Throws until the cluster's networks are known.
   */
  defaultNetworkBody(): CreateNetworkBody | undefined {
    if (!this.view.synced) {
      throw new WeaveError(
        "WEAVE_TIMEOUT",
        `Waiting for the cluster store (${this.o.storeUrl}) to list the cluster's networks`,
      );
    }
    const record = this.view.networks().find((n) => n.name === this.o.defaultNetwork);
    if (record?.removed) {
      throw new WeaveError(
        "WEAVE_CONFLICT",
        `The cluster's network "${record.name}" is being removed (containers remain on some hosts); waiting`,
      );
    }
    return record && this.networkSync.createBody(record);
  }

  status(): ClusterStatus {
    const self = this.o.name;
    const peers = this.peers.list(this.view.peers(), this.o.advertiseAddr);
    return {
      name: self,
      address: this.o.advertiseAddr,
      store: {
        url: this.o.storeUrl,
        reachable: this.health.reachable,
        since: this.health.since,
        error: this.health.lastError,
      },
      registered: this.session.lease !== undefined && this.session.conflict === "",
      conflicts: [
        ...(this.session.conflict ? [this.session.conflict] : []),
        ...this.networkSync.conflicts.values(),
      ],
      peers,
      networks: this.view
        .networks()
        .map((n) => ({ name: n.name, clusterId: n.clusterId, vni: n.vni, host: n.host })),
    };
  }

  /** `weave rmpeer NAME`: see removePeer (peers.ts). */
  async removePeer(name: string): Promise<number> {
    const released = await removePeer({ store: this.o.store, health: this.health, self: this.o.name }, name);
    this.peers.forget(name);
    this.o.logger.info("peer removed", { peer: name, blocks: released });
    return released;
  }

  private sweepDeps() {
    const { store, state, name, now, logger } = this.o;
    return { store, health: this.health, state, view: this.view, blocks: this.ipam, host: name, now, logger };
  }

  private sharedAddresses(clusterId: string): ReadonlySet<string> {
    const n = this.view.networkById(clusterId);
    const out = new Set<string>();
    for (const s of [...(n?.ipv4 ?? []), ...(n?.ipv6 ?? [])]) {
      if (s.gateway) out.add(s.gateway);
      for (const a of Object.values(s.aux ?? {})) out.add(a);
    }
    return out;
  }

  private peersChanged(): void {
    this.peers.changed(this.view.peers());
    this.overlaySync.kick();
  }

  /** Runs a network pass now, or once more after the running one. */
  private kickNetworks(): void {
    this.networkLoop.kick();
  }

  private networkReconciler(): Reconciler {
    return new Reconciler({
      pass: () => this.networkSync.pass(),
      onError: (err) => this.o.logger.debug("cluster network pass failed", { error: errorMessage(err) }),
      againDelayMs: 200,
      clock: this.o.clock,
    });
  }

  /** A loop that runs `pass` every `ms` once started; a failure is logged at debug level. */
  private every(ms: number, failed: string, pass: () => Promise<void>): Reconciler {
    const loop = new Reconciler({
      pass,
      onError: (err) => this.o.logger.debug(failed, { error: errorMessage(err) }),
      intervalMs: ms,
      clock: this.o.clock,
    });
    this.periodic.push(loop);
    return loop;
  }
}
