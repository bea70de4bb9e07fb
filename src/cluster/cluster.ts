/**
 * Multi-host weave on one host: the cluster port over one store. Its parts are built by
 * buildClusterParts (cluster-parts.ts); Cluster runs them: it starts and stops them, turns the
 * driver's events and the mirrors' changes into the work they affect, and answers for them.
 * Every change schedules the work it affects; everything also runs periodically, so a change
 * missed while the store was unreachable is caught up when it is back.
 */
import { errorMessage, EventStream, Reconciler, WeaveError } from "../core/index.js";
import type { CreateNetworkBody } from "../docker/index.js";
import type { DriverEvent } from "../driver/index.js";
import type { IpamPort } from "../ipam/index.js";
import { clusterIdOf } from "../store/index.js";
import type { ClusterOptions, ClusterParts, MirrorEvent } from "./cluster-parts.js";
import { buildClusterParts } from "./cluster-parts.js";
import type { ClusterPort, ClusterStatus } from "./port.js";
import { removePeer } from "./peers.js";
import { endpointKey, keyParts, PEERS } from "./records.js";
import { sweep } from "./sweeper.js";
import { withPaths } from "./peer-paths.js";
import { ENCRYPTION_OFF } from "./wireguard-layer.js";

export type { ClusterOptions } from "./cluster-parts.js";

export class Cluster implements ClusterPort {
  readonly ipam: IpamPort;
  private readonly p: ClusterParts;
  /** Network passes: one at a time, another 200 ms after it when asked for meanwhile. */
  private readonly networkLoop: Reconciler;
  /** The periodic loops, from start(). */
  private periodic: Reconciler[] = [];

  constructor(private readonly o: ClusterOptions) {
    const changes = new EventStream<MirrorEvent>((err, { mirror }) =>
      o.logger.error("handling a cluster change failed", { mirror, error: errorMessage(err) }),
    );
    this.p = buildClusterParts(o, changes);
    this.ipam = this.p.ipam;
    this.networkLoop = new Reconciler({
      pass: () => this.p.networkSync.pass(),
      onError: (err) => o.logger.debug("cluster network pass failed", { error: errorMessage(err) }),
      againDelayMs: 200,
      clock: o.clock,
    });
    changes.subscribe((event) => this.mirrorChanged(event));
    this.p.health.onChange((reachable) => {
      if (reachable) this.kickNetworks();
    });
  }

  start(): void {
    this.p.session.start();
    for (const m of Object.values(this.p.mirrors)) m.start();
    this.p.dnsReplica?.start();
    this.endpointsChanged();
    this.p.transportSync.start();
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
    this.p.dnsReplica?.close();
    this.p.endpointsPublisher.close();
    this.p.dnsPublisher.close();
    for (const m of Object.values(this.p.mirrors)) m.close();
    await this.p.transportSync.close();
    await Promise.all(loops);
    await this.p.session.close();
    await this.o.store.close();
  }

  /** Binds every pool of a new network (reserved here) to one cluster ID. */
  bindNetwork(pools: { ipv4: readonly string[]; ipv6: readonly string[] }): Promise<string | undefined> {
    return this.p.ipam.bindNetwork([...pools.ipv4, ...pools.ipv6]);
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
  private endpointsChanged(): void {
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
    this.p.endpointsPublisher.replace(desired);
  }

  /** A local network appeared or went. */
  private networksChanged(): void {
    this.kickNetworks();
    this.p.transportSync.kick();
    this.endpointsChanged();
  }

  /** Before Docker removes a network here: remove it from the cluster (or refuse). */
  beforeNetworkDelete(networkId: string): Promise<void> {
    return this.p.networkSync.removeFromCluster(networkId);
  }

  /**
   * How to create the default network in this host's Docker: from its cluster record when the cluster
   * has it, else as a new network (`undefined`). Throws until the cluster's networks are known.
   */
  defaultNetworkBody(): CreateNetworkBody | undefined {
    if (!this.p.view.synced) {
      throw new WeaveError(
        "WEAVE_TIMEOUT",
        `Waiting for the cluster store (${this.o.storeUrl}) to list the cluster's networks`,
      );
    }
    const record = this.p.view.networks().find((n) => n.name === this.o.defaultNetwork);
    if (record?.removed) {
      throw new WeaveError(
        "WEAVE_CONFLICT",
        `The cluster's network "${record.name}" is being removed (containers remain on some hosts); waiting`,
      );
    }
    return record && this.p.networkSync.createBody(record);
  }

  status(): ClusterStatus {
    const self = this.o.name;
    const peers = withPaths(this.p.peers.list(this.p.view.peers(), this.o.advertiseAddr), {
      paths: this.p.transportSync.paths,
      programmed: this.p.transportSync.programmed,
      containerMtu: this.o.containerMtu,
      encryption: this.o.encryption,
      records: this.p.view.peers(),
    });
    return {
      encryption: this.o.encryption?.status() ?? ENCRYPTION_OFF,
      name: self,
      address: this.o.advertiseAddr,
      store: {
        url: this.o.storeUrl,
        reachable: this.p.health.reachable,
        since: this.p.health.since,
        error: this.p.health.lastError,
      },
      registered: this.p.session.lease !== undefined && this.p.session.conflict === "",
      conflicts: [
        ...(this.p.session.conflict ? [this.p.session.conflict] : []),
        ...this.p.networkSync.conflicts.values(),
      ],
      peers,
      networks: this.p.view
        .networks()
        .map((n) => ({ name: n.name, clusterId: n.clusterId, vni: n.vni, host: n.host })),
    };
  }

  /** `weave rotate-key`: a new WireGuard key pair, published; the peers switch to it. */
  async rotateKey(): Promise<string> {
    const { encryption } = this.o;
    if (!encryption) {
      throw new WeaveError(
        "WEAVE_BAD_REQUEST",
        "Encryption is off on this host: launch weave with --password-file FILE (or WEAVE_PASSWORD) first",
      );
    }
    const publicKey = encryption.rotate();
    this.p.transportSync.kick();
    await this.p.session.updatePeer({ ...this.p.session.peer, wireguard: encryption.record() });
    this.o.logger.info("WireGuard key rotated", { publicKey });
    return publicKey;
  }

  /** `weave rmpeer NAME`: see removePeer (peers.ts). */
  async removePeer(name: string): Promise<number> {
    const released = await removePeer(
      { store: this.o.store, health: this.p.health, self: this.o.name },
      name,
    );
    this.p.peers.forget(name);
    this.o.logger.info("peer removed", { peer: name, blocks: released });
    return released;
  }

  private sweepDeps() {
    const { store, state, name, now, logger } = this.o;
    return {
      store,
      health: this.p.health,
      state,
      view: this.p.view,
      blocks: this.p.ipam,
      host: name,
      now,
      logger,
    };
  }

  private mirrorChanged({ mirror, change }: MirrorEvent): void {
    switch (mirror) {
      case "peers": {
        // One event costs one peer's work: at 1,000 peers a listing per event made joins quadratic.
        const name = change?.kind === "key" ? keyParts(change.key, PEERS)?.[0] : undefined;
        if (change?.kind === "key" && name !== undefined)
          this.p.peers.peerChanged(name, this.p.view.peer(change.key));
        else this.p.peers.changed(this.p.view.peers());
        this.p.transportSync.peersChanged();
        return;
      }
      case "pools":
        this.kickNetworks();
        return;
      case "networks":
        this.kickNetworks();
        this.p.transportSync.kick();
        return;
      case "endpoints":
        this.p.transportSync.endpointChanged(change);
        return;
      case "dns":
        this.p.dnsReplica?.changed(change);
        return;
    }
  }

  /** Runs a network pass now, or once more after the running one. */
  private kickNetworks(): void {
    this.networkLoop.kick();
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
