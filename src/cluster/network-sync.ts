/**
 * Networks across hosts, always outside plugin calls:
 *  - publish: a network created on this host whose subnet was reserved here gets a VXLAN ID and its
 *    record networks/<name> (the name comes from Docker once it has the network);
 *  - apply: every network of the cluster this host's Docker lacks is created in it, bound to its
 *    record by the weave.cluster.id option (driver and IPAM); hosts that join later do the same;
 *  - remove: a local copy of a network that is gone from the cluster is removed from Docker (Docker
 *    refuses while containers are attached; retried on every pass).
 * Removal rule (docs/multihost.md): `docker network rm` on any host removes the network from the
 * cluster (Docker ignores a driver's DeleteNetwork error, so weave cannot refuse it): the record is
 * marked removed, no host creates the network any more, every host removes its copy as soon as it
 * has no containers on it (containers still on it keep talking until then), and the record, its
 * subnet, VXLAN ID and blocks are deleted once no host has containers on it.
 * Names are unique in the cluster: a second network of the same name stays local to its host and
 * is reported, except the default network, whose empty local copy is replaced by the cluster's.
 */
import type { Logger } from "../core/index.js";
import { errorMessage, isWeaveError, WeaveError } from "../core/index.js";
import type { CreateNetworkBody, DockerApi } from "../docker/index.js";
import { OPT_BRIDGE_NAME, OPT_GENERIC } from "../driver/index.js";
import { CLUSTER_ID_OPTION, clusterIdOf } from "../store/index.js";
import { formatPrefix, parsePrefix } from "../ipam/index.js";
import type { ClusterStore, IpamData, IpamReader, NetworkReader, NetworkRecord } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import type { ClusterNetwork, ClusterSubnet } from "./records.js";
import { networkKey, vniKey, VNIS } from "./records.js";
import { deleteUnused, markRemoved } from "./network-removal.js";
import type { ClusterView } from "./view.js";

export interface NetworkSyncOptions {
  store: ClusterStore;
  health: StoreHealth;
  view: ClusterView;
  /** Read-only: networks change through Docker, pools through the IPAM. */
  state: NetworkReader & IpamReader;
  docker: DockerApi;
  driverName: string;
  host: string;
  logger: Logger;
  now: () => number;
  defaultNetwork: string;
  /** Bridge of the default network (its `com.docker.network.bridge.name`). */
  defaultBridge: string;
}

/** VXLAN IDs weave gives out: above the 802.1Q VLAN range, as Docker's overlay does. */
export const FIRST_VNI = 4096;

const plain = (cidrOrIp: string): string => cidrOrIp.split("/")[0] ?? "";

export class NetworkSync {
  /** Names that clash with another network of the cluster, with the reason. */
  readonly conflicts = new Map<string, string>();
  /** Cluster IDs seen in the cluster (record or reservation) by this process. */
  private readonly seen = new Set<string>();
  private readonly refused = new Set<string>();
  /** Local networks whose name another network of the cluster has (never published). */
  private readonly clashed = new Set<string>();
  private retrySoon = false;
  /** The default network was removed to be replaced and is still to be created. */
  private defaultPending = false;

  constructor(private readonly o: NetworkSyncOptions) {}

  /** One pass: publish, apply, remove. Needs a synced view. True when a pass should follow soon. */
  async pass(): Promise<boolean> {
    this.retrySoon = false;
    if (!this.o.view.synced) return false;
    for (const n of this.o.view.networks()) this.seen.add(n.clusterId);
    for (const p of this.o.view.pools()) this.seen.add(p.clusterId);
    await this.publishLocal();
    await this.rebindDefault();
    await this.applyCluster();
    await this.removeGone();
    await deleteUnused(this.o);
    return this.retrySoon;
  }

  /** The body that creates the network of `record` in this host's Docker. */
  createBody(record: ClusterNetwork): CreateNetworkBody {
    const { driverName } = this.o;
    const config = [...record.ipv4, ...record.ipv6].map((s) => ({
      Subnet: s.pool,
      ...(s.subPool ? { IPRange: s.subPool } : {}),
      ...(s.gateway ? { Gateway: s.gateway } : {}),
      ...(s.aux ? { AuxiliaryAddresses: s.aux } : {}),
    }));
    return {
      Name: record.name,
      Driver: driverName,
      CheckDuplicate: true,
      Internal: record.internal,
      EnableIPv6: record.ipv6.length > 0,
      IPAM: { Driver: driverName, Config: config, Options: { [CLUSTER_ID_OPTION]: record.clusterId } },
      Options: { ...record.options, [CLUSTER_ID_OPTION]: record.clusterId },
    };
  }

  /** See markRemoved (network-removal.ts). */
  removeFromCluster(networkId: string): Promise<void> {
    return markRemoved(this.o, networkId);
  }

  private async publishLocal(): Promise<void> {
    const { view, state, host, docker, logger } = this.o;
    const published = new Set(view.networks().map((n) => n.clusterId));
    for (const n of state.listNetworks()) {
      const clusterId = clusterIdOf(n);
      if (!clusterId || published.has(clusterId)) continue;
      const claim = view.pools().find((p) => p.clusterId === clusterId);
      if (!claim) {
        this.retrySoon = true; // the reservation is not in the mirror yet
        continue;
      }
      if (claim.host !== host) continue; // a copy of another host's network
      let name: string;
      try {
        name = (await docker.inspectNetwork(n.id)).Name;
      } catch (err) {
        // Docker records a network once CreateNetwork has returned: try again in a moment.
        if (isWeaveError(err, "WEAVE_NOT_FOUND")) {
          this.retrySoon = true;
          continue;
        }
        throw err;
      }
      if (this.clashed.has(n.id)) continue;
      try {
        await this.publish(n, clusterId, name);
      } catch (err) {
        logger.warning("cannot publish a network to the cluster yet", {
          network: name,
          error: errorMessage(err),
        });
      }
    }
  }

  private async publish(n: NetworkRecord, clusterId: string, name: string): Promise<void> {
    const { store, health, host, now, logger, docker, state } = this.o;
    const vni = await this.allocateVni(clusterId);
    const record: ClusterNetwork = {
      clusterId,
      name,
      vni,
      ipv4: this.subnets(n.ipv4),
      ipv6: this.subnets(n.ipv6),
      internal: n.internal,
      options: driverOptions(n),
      host,
      createdAt: now(),
    };
    if (await health.track(store.create(networkKey(name), JSON.stringify(record)))) {
      logger.info("network published to the cluster", { network: name, clusterId, vni });
      return;
    }
    const kv = await health.track(store.get(vniKey(vni)));
    if (kv?.value === clusterId) await health.track(store.compareAndDelete(kv.key, kv.modRevision));
    if (name === this.o.defaultNetwork && state.listEndpoints(n.id).length === 0) {
      logger.info("the cluster already has the default network; replacing this host's copy", {
        network: name,
      });
      await docker.removeNetwork(n.id);
      return;
    }
    const message = `Network "${name}" of this host clashes with the cluster's network of the same name: it stays local to this host (rename it to share it)`;
    logger.error("network name clash", { network: name, error: message });
    this.conflicts.set(name, message);
    this.clashed.add(n.id);
  }

  /**
   * A host that ran alone before joining has a default network of its own (no cluster ID). While it
   * has no containers it is replaced: by the cluster's default network when there is one, else by a
   * new one created through the cluster (so that it is published). With containers it stays local,
   * and says so.
   */
  private async rebindDefault(): Promise<void> {
    const { docker, state, driverName, defaultNetwork: name, logger } = this.o;
    if (name === "") return;
    const mine = (await docker.listNetworks({ name: [name] })).find((x) => x.Name === name);
    if (!mine && this.defaultPending) {
      // Removed by an earlier pass whose creation failed (e.g. the store went away): create it now.
      await this.createDefault();
      return;
    }
    const ours = mine && mine.Driver === driverName ? state.getNetwork(mine.Id) : undefined;
    if (!mine || !ours || clusterIdOf(ours)) return;
    const inspected = await docker.inspectNetwork(mine.Id);
    if (Object.keys(inspected.Containers ?? {}).length > 0) {
      const message = `The default network "${name}" was created before this host joined the cluster and has containers: it stays local to this host until they are gone`;
      if (this.conflicts.get(name) !== message)
        logger.warning("default network not shared", { network: name });
      this.conflicts.set(name, message);
      return;
    }
    logger.info("replacing this host's own default network by the cluster's", { network: name });
    this.defaultPending = true;
    await docker.removeNetwork(mine.Id);
    await this.createDefault();
  }

  /** Creates the default network: the cluster's when it has one, else a new one (published next). */
  private async createDefault(): Promise<void> {
    const { docker, view, driverName, defaultNetwork: name } = this.o;
    const record = view.networks().find((n) => n.name === name && !n.removed);
    await docker.createNetwork(
      record
        ? this.createBody(record)
        : {
            Name: name,
            Driver: driverName,
            CheckDuplicate: true,
            IPAM: { Driver: driverName },
            Options: { [OPT_BRIDGE_NAME]: this.o.defaultBridge },
          },
    );
    this.defaultPending = false;
    this.conflicts.delete(name);
  }

  private async applyCluster(): Promise<void> {
    const { view, state, docker, logger, driverName } = this.o;
    const local = new Set(
      state
        .listNetworks()
        .map(clusterIdOf)
        .filter((c): c is string => c !== undefined),
    );
    for (const record of view.networks()) {
      if (record.removed) continue;
      if (local.has(record.clusterId)) {
        this.conflicts.delete(record.name);
        continue;
      }
      try {
        await docker.createNetwork(this.createBody(record));
        logger.info("created a network of the cluster", {
          network: record.name,
          clusterId: record.clusterId,
        });
        this.conflicts.delete(record.name);
      } catch (err) {
        if (!(isWeaveError(err, "WEAVE_DOCKER") && /already exists/.test(err.message))) {
          logger.warning("cannot create a network of the cluster yet", {
            network: record.name,
            error: errorMessage(err),
          });
          continue;
        }
        const mine = (await docker.listNetworks({ name: [record.name] })).find((x) => x.Name === record.name);
        const ours = mine && state.getNetwork(mine.Id);
        // The default network of this host that is not the cluster's (made alone, or the loser of
        // a race between hosts creating it at once) is replaced while it has no containers.
        if (mine && mine.Driver === driverName && ours && record.name === this.o.defaultNetwork) {
          const inspected = await docker.inspectNetwork(mine.Id);
          if (Object.keys(inspected.Containers ?? {}).length === 0) {
            logger.info("replacing this host's default network by the cluster's", { network: record.name });
            await docker.removeNetwork(mine.Id);
            await docker.createNetwork(this.createBody(record));
            continue;
          }
        }
        const message = `This host's Docker has a network named "${record.name}" that is not the cluster's: remove or rename it to get the cluster's`;
        if (this.conflicts.get(record.name) !== message)
          logger.error("network name clash", { network: record.name, error: message });
        this.conflicts.set(record.name, message);
      }
    }
  }

  private async removeGone(): Promise<void> {
    const { view, state, docker, logger } = this.o;
    const live = view.networks().filter((n) => !n.removed);
    const removed = new Set(
      view
        .networks()
        .filter((n) => n.removed)
        .map((n) => n.clusterId),
    );
    const inCluster = new Set([
      ...live.map((n) => n.clusterId),
      ...view
        .pools()
        .filter((p) => !removed.has(p.clusterId))
        .map((p) => p.clusterId),
    ]);
    for (const n of state.listNetworks()) {
      const clusterId = clusterIdOf(n);
      if (!clusterId || inCluster.has(clusterId) || !this.seen.has(clusterId)) continue;
      try {
        await docker.removeNetwork(n.id);
        logger.info("removed a network that was removed from the cluster", { network: n.id, clusterId });
      } catch (err) {
        if (isWeaveError(err, "WEAVE_NOT_FOUND")) continue;
        if (!this.refused.has(n.id)) {
          logger.warning("a network removed from the cluster stays here until its containers are gone", {
            network: n.id,
            error: errorMessage(err),
          });
          this.refused.add(n.id);
        }
      }
    }
  }

  /** The VXLAN ID of a network: the one it has, else the lowest free one (create-if-absent). */
  private async allocateVni(clusterId: string): Promise<number> {
    const { store, health } = this.o;
    for (let attempt = 0; attempt < 20; attempt++) {
      const listing = await health.track(store.list(VNIS));
      const used = new Set<number>();
      for (const kv of listing.items) {
        const vni = Number(kv.key.slice(VNIS.length));
        if (kv.value === clusterId) return vni;
        used.add(vni);
      }
      let vni = FIRST_VNI;
      while (used.has(vni)) vni++;
      if (await health.track(store.create(vniKey(vni), clusterId))) return vni;
    }
    throw new WeaveError("WEAVE_CONFLICT", "Cannot allocate a VXLAN ID: too many concurrent attempts");
  }

  private subnets(data: readonly IpamData[]): ClusterSubnet[] {
    const pools = this.o.state.listPools();
    return data.map((d) => {
      const pool = formatPrefix(parsePrefix(d.Pool));
      const s: ClusterSubnet = { pool };
      const subPool = pools.find((p) => p.pool === pool)?.subPool;
      if (subPool) s.subPool = subPool;
      if (d.Gateway) s.gateway = plain(d.Gateway);
      const aux = Object.entries(d.AuxAddresses ?? {});
      if (aux.length > 0) s.aux = Object.fromEntries(aux.map(([k, v]) => [k, plain(v)]));
      return s;
    });
  }
}

/** The driver options (`-o`) of a network, as the cluster record carries them. */
function driverOptions(n: NetworkRecord): Record<string, string> {
  const generic = n.options[OPT_GENERIC];
  const out: Record<string, string> = {};
  if (generic && typeof generic === "object" && !Array.isArray(generic)) {
    for (const [k, v] of Object.entries(generic)) {
      if (k !== CLUSTER_ID_OPTION) out[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
  }
  return out;
}
