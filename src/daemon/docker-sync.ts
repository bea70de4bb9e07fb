/**
 * Keeps weave and Docker in agreement, always outside plugin calls (Docker may be waiting on us
 * inside one). Docker replays nothing to a network driver, so this loop is how weave learns what
 * happened while it, or Docker, was down:
 *  - the default network exists in Docker (driver and IPAM "weave"), checked each time Docker
 *    becomes reachable and retried every second until Docker accepts it (a managed plugin's
 *    creation fails while Docker is still enabling the plugin); a user may remove it later, it is
 *    not forced back;
 *  - networks of driver weave that weave has no record of are adopted (see adopt.ts);
 *  - networks Docker no longer has are removed (bridge, rules, pools);
 *  - endpoints Docker no longer has are removed (veth, address), after a grace period that covers
 *    a container start in progress;
 *  - addresses and pools no endpoint or network uses are freed, after the same grace period;
 *  - the data plane is repaired: missing bridges and veths of recorded objects are recreated,
 *    weave-owned bridges and veths that no record names are deleted (only now, once Docker has been
 *    asked: at start, an unknown link might belong to a network still to be adopted), and the rules
 *    are re-applied.
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, isWeaveError, Reconciler } from "../core/index.js";
import type { CreateNetworkBody, DockerApi } from "../docker/index.js";
import type { Dataplane } from "../dataplane/index.js";
import type { NetworkDriver } from "../driver/index.js";
import { desiredDataplane, OPT_BRIDGE_NAME } from "../driver/index.js";
import { adoptUnknownNetworks } from "./adopt.js";
import type { IpamService } from "../ipam/index.js";
import { formatAddress, parseAddress, parsePrefix, formatPrefix } from "../ipam/index.js";
import type { IpamReader, NetworkReader } from "../store/index.js";

export interface DockerSyncOptions {
  docker: DockerApi;
  dataplane: Dataplane;
  driverName: string;
  /** Read-only: the driver and the IPAM make the changes. */
  state: NetworkReader & IpamReader;
  driver: NetworkDriver;
  ipam: IpamService;
  logger: Logger;
  defaultNetwork: string;
  defaultBridge: string;
  now: () => number;
  graceMs: number;
  intervalMs: number;
  /** The loop's timers (default: the real clock; `now` above dates records and retries). */
  clock?: Clock | undefined;
  /** Called after networks were adopted (so that their containers get their DNS names). */
  onAdopted?: () => void;
  /**
   * How to create the default network (multi-host: from the cluster's record when it has one);
   * undefined for a new network. May throw to mean "not yet" (retried like a failed creation).
   */
  defaultNetworkBody?: () => CreateNetworkBody | undefined;
  /** Runs after the data plane was repaired in each pass (e.g. published ports are re-applied). */
  afterRepair?: () => Promise<void>;
}

export type DockerStatus = "unknown" | "reachable" | "unreachable";

/** How soon a pass runs again while the default network could not be created. */
export const DEFAULT_NETWORK_RETRY_MS = 1_000;
/** For how long after Docker became reachable those fast retries go on (then: every intervalMs). */
export const DEFAULT_NETWORK_FAST_RETRY_FOR_MS = 60_000;

export class DockerSync {
  /** One pass at a time; the next one `intervalMs` (or a second, see below) after the last ended. */
  private readonly loop: Reconciler;
  status: DockerStatus = "unknown";
  lastError = "";
  /** True once the default network is known to exist in Docker (or none is wanted). */
  defaultNetworkReady = false;
  /** True once the default network was checked (and created if need be) since Docker became reachable. */
  private defaultNetworkChecked = false;
  /** Until when (ms, from `now`) a failed default-network creation is retried every second. */
  private fastRetryUntil = 0;
  private defaultNetworkError = "";

  constructor(private readonly o: DockerSyncOptions) {
    this.loop = new Reconciler({
      pass: () => this.pass(),
      // pass() reports its own failures; this only catches the unexpected.
      onError: (err) => o.logger.warning("sync with Docker failed", { error: errorMessage(err) }),
      intervalMs: () =>
        this.status === "reachable" && !this.defaultNetworkChecked && o.now() < this.fastRetryUntil
          ? Math.min(o.intervalMs, DEFAULT_NETWORK_RETRY_MS)
          : o.intervalMs,
      clock: o.clock,
    });
  }

  /** Starts the loop; the first pass runs at once. */
  start(): void {
    this.loop.start();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  /** Runs one pass now, or joins the one under way (used by tests and after events). */
  syncNow(): Promise<void> {
    return this.loop.runNow();
  }

  private async pass(): Promise<void> {
    const { docker, logger } = this.o;
    try {
      await docker.ping();
    } catch (err) {
      if (this.status !== "unreachable")
        logger.warning("Docker is unreachable", { error: errorMessage(err) });
      this.status = "unreachable";
      this.lastError = errorMessage(err);
      return;
    }
    const becameReachable = this.status !== "reachable";
    if (becameReachable) logger.info("Docker is reachable");
    this.status = "reachable";
    this.lastError = "";
    const { state, dataplane } = this.o;
    if (becameReachable) {
      this.defaultNetworkChecked = false;
      this.fastRetryUntil = this.o.now() + DEFAULT_NETWORK_FAST_RETRY_FOR_MS;
    }
    if (!this.defaultNetworkChecked) {
      try {
        await this.ensureDefaultNetwork();
        this.defaultNetworkChecked = true;
        this.defaultNetworkError = "";
      } catch (err) {
        const message = errorMessage(err);
        this.lastError = message;
        const fields = { network: this.o.defaultNetwork, error: message };
        if (message !== this.defaultNetworkError)
          logger.warning("cannot create the default network yet; retrying", fields);
        else logger.debug("cannot create the default network yet; retrying", fields);
        this.defaultNetworkError = message;
      }
    }
    try {
      if ((await adoptUnknownNetworks(this.o)).length > 0) this.o.onAdopted?.();
      await this.collectGarbage();
      // Self-healing: links lost or added behind weave's back are put right (the desired state is
      // read after the kernel, so nothing recorded meanwhile looks orphaned), then the rules are
      // re-applied (e.g. dockerd switched FORWARD to DROP after weave started, or a firewall reload).
      const swept = await dataplane.reconcile(() =>
        desiredDataplane(state.listNetworks(), state.listEndpoints()),
      );
      if (swept.applied.length > 0) logger.info("repaired the data plane", { applied: swept.applied });
      await this.o.driver.applyPolicies();
      await this.o.afterRepair?.();
      logger.debug("sync with Docker done", {
        networks: state.listNetworks().length,
        endpoints: state.listEndpoints().length,
      });
    } catch (err) {
      this.lastError = errorMessage(err);
      logger.warning("sync with Docker failed", { error: errorMessage(err) });
    }
  }

  private async ensureDefaultNetwork(): Promise<void> {
    const { docker, logger, defaultNetwork: name } = this.o;
    if (name === "") {
      this.defaultNetworkReady = true;
      return;
    }
    const found = (await docker.listNetworks({ name: [name] })).find((n) => n.Name === name);
    if (found) {
      if (found.Driver !== this.o.driverName) {
        logger.warning("default network exists with another driver", { network: name, driver: found.Driver });
      }
      this.defaultNetworkReady = true;
      return;
    }
    const body = this.o.defaultNetworkBody?.() ?? {
      Name: name,
      Driver: this.o.driverName,
      CheckDuplicate: true,
      IPAM: { Driver: this.o.driverName },
      Options: { [OPT_BRIDGE_NAME]: this.o.defaultBridge },
    };
    try {
      await docker.createNetwork(body);
      logger.info("created the default network", { network: name });
      this.defaultNetworkReady = true;
    } catch (err) {
      // A concurrent creator (another weave start, a user) may have won the race.
      if (isWeaveError(err, "WEAVE_DOCKER") && /already exists/.test(err.message)) {
        this.defaultNetworkReady = true;
        return;
      }
      throw err;
    }
  }

  private async collectGarbage(): Promise<void> {
    const { docker, state, driver, ipam, logger, now, graceMs } = this.o;
    const old = (t: number) => now() - t > graceMs;
    const liveEndpoints = new Set<string>();
    for (const network of state.listNetworks()) {
      let containers: Record<string, { EndpointID: string }> | null;
      try {
        containers = (await docker.inspectNetwork(network.id)).Containers;
      } catch (err) {
        if (!isWeaveError(err, "WEAVE_NOT_FOUND")) throw err;
        if (!old(network.createdAt)) continue;
        logger.info("removing a network Docker no longer has", { network: network.id });
        for (const ep of state.listEndpoints(network.id)) {
          await driver.deleteEndpoint({ networkId: network.id, endpointId: ep.id });
        }
        await driver.deleteNetwork(network.id);
        continue;
      }
      for (const c of Object.values(containers ?? {})) liveEndpoints.add(c.EndpointID);
      for (const ep of state.listEndpoints(network.id)) {
        if (liveEndpoints.has(ep.id) || !old(ep.createdAt)) continue;
        logger.info("removing an endpoint Docker no longer has", { network: network.id, endpoint: ep.id });
        await driver.deleteEndpoint({ networkId: network.id, endpointId: ep.id });
      }
    }

    // Addresses and pools nobody uses any more (their release was lost while weave was down). What
    // is in use is what Docker reports for every network whose IPAM is weave, whatever its driver
    // (e.g. `-d bridge --ipam-driver weave`), plus weave's own endpoints.
    const inUse = new Set<string>();
    const boundPools = new Set<string>();
    for (const summary of await docker.listNetworks()) {
      if (summary.IPAM.Driver !== this.o.driverName) continue;
      let network;
      try {
        network = await docker.inspectNetwork(summary.Id);
      } catch (err) {
        if (isWeaveError(err, "WEAVE_NOT_FOUND")) continue; // removed meanwhile
        throw err;
      }
      for (const c of network.IPAM.Config ?? []) {
        if (c.Subnet) boundPools.add(formatPrefix(parsePrefix(c.Subnet)));
        for (const a of [c.Gateway, ...Object.values(c.AuxiliaryAddresses ?? {})])
          if (a) inUse.add(canonical(a));
      }
      for (const c of Object.values(network.Containers ?? {})) {
        for (const a of [c.IPv4Address, c.IPv6Address]) if (a) inUse.add(canonical(a));
      }
    }
    for (const ep of state.listEndpoints()) {
      if (ep.ipv4) inUse.add(canonical(ep.ipv4));
      if (ep.ipv6) inUse.add(canonical(ep.ipv6));
    }
    for (const pool of state.listPools()) {
      if (!boundPools.has(pool.pool)) {
        if (old(pool.createdAt)) {
          logger.info("freeing a pool no network uses", { pool: pool.id });
          await ipam.reclaimPool(pool);
        }
        continue;
      }
      for (const a of state.listAddresses(pool.id)) {
        if (a.kind === "gateway" || inUse.has(a.address) || !old(a.createdAt)) continue;
        logger.info("freeing an address no endpoint uses", { pool: pool.id, address: a.address });
        await ipam.reclaimAddress(a);
      }
    }
  }
}

/**
 * The canonical text of an address (plain or CIDR). A value that does not parse (a record stored
 * by a weave that did not yet validate its input) gives "": it can hold no reservation, and one
 * bad record must not stop every later pass.
 */
function canonical(cidrOrIp: string): string {
  try {
    return formatAddress(parseAddress(cidrOrIp.split("/")[0] ?? ""));
  } catch {
    return "";
  }
}
