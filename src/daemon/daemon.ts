/**
 * The composition root: builds every component from the config, starts them in order, and closes
 * them in reverse order on SIGTERM/SIGINT or a control-API stop, under a deadline.
 *
 * Start order: state -> kernel reconciled with the state -> plugin socket -> weaveDNS -> control
 * socket -> status server (metrics, status page) -> Docker sync (outside any plugin call: default
 * network, adoption, garbage collection).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../core/index.js";
import {
  createLogger,
  errorMessage,
  execFile,
  KeyedSerialQueue,
  VERSION,
  WeaveError,
} from "../core/index.js";
import type { Config } from "../config/index.js";
import { controlSocketPath, parseStoreUrl } from "../config/index.js";
import { Cluster } from "../cluster/index.js";
import { DEFAULT_BRIDGE, IprouteDataplane, IprouteOverlay } from "../dataplane/index.js";
import { DockerClient } from "../docker/index.js";
import { desiredDataplane, NetworkDriver } from "../driver/index.js";
import type { CreateNetworkRequest } from "../driver/index.js";
import { IpamService, parsePrefix } from "../ipam/index.js";
import { buildRoutes, PluginServer } from "../plugin-api/index.js";
import {
  DEFAULT_EPHEMERAL_RANGE,
  NftPortDataplane,
  parsePortRange,
  PortPublisher,
  SocketPortReserver,
} from "../ports/index.js";
import { EtcdStore, loadStoreTls, openSqliteState } from "../store/index.js";
import { ControlServer } from "./control-server.js";
import { DockerSync } from "./docker-sync.js";
import { detectAdvertiseAddr, detectMtu, resolveGroup, ulaRange, underlayMtu } from "./host.js";
import { controlRoutes } from "./control-routes.js";
import { DnsService } from "./dns-service.js";
import { clusterPeers, createStatusServer, daemonMetrics } from "./observability.js";

export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * Runs the daemon until it is told to stop. Resolves when it has shut down; rejects (before
 * listening) when it cannot start, e.g. WEAVE_PERMISSION when not root, WEAVE_CONFLICT when another
 * daemon owns the socket.
 */
export async function runDaemon(config: Config, logger?: Logger): Promise<void> {
  const log = logger ?? createLogger({ level: config.logLevel, component: "weave" });
  if (process.getuid?.() !== 0) {
    throw new WeaveError(
      "WEAVE_PERMISSION",
      "weave must run as root (it creates bridges, veths and firewall rules)",
    );
  }
  const gid = resolveGroup(config.socketGroup);
  mkdirSync(config.runDir, { recursive: true, mode: 0o755 });

  // Creates the state directory 0700 (or tightens it) and the database files 0600.
  const state = openSqliteState(join(config.stateDir, "weave.db"), { logger: log.child("state") });
  const closers: { name: string; close: () => Promise<void> | void }[] = [
    { name: "state", close: () => state.close() },
  ];
  const shutdown = async (): Promise<void> => {
    for (const c of closers.reverse()) {
      try {
        await c.close();
      } catch (err) {
        log.warning("error while closing", { component: c.name, error: errorMessage(err) });
      }
    }
  };

  try {
    const now = () => Date.now();
    const queue = new KeyedSerialQueue();
    const dataplane = new IprouteDataplane({ exec: execFile, logger: log.child("dataplane") });
    const storeUrl = config.store !== "" ? parseStoreUrl(config.store) : undefined;
    const advertiseAddr = storeUrl
      ? config.advertiseAddr || (await detectAdvertiseAddr(execFile, storeUrl.endpoints))
      : "";
    const mtu =
      config.mtu ?? (storeUrl ? await underlayMtu(execFile, advertiseAddr) : await detectMtu(execFile));
    const ipam = new IpamService(
      state,
      {
        range: parsePrefix(config.ipallocRange, { strict: true }),
        subnetBits: 24,
        rangeV6: parsePrefix(ulaRange(state)),
        subnetBitsV6: 64,
        replayWindowMs: 60_000,
      },
      now,
    );
    const docker = new DockerClient({ socketPath: config.dockerSocket });
    const cluster = storeUrl
      ? new Cluster({
          store: new EtcdStore(
            await loadStoreTls(
              { ca: config.storeCa, cert: config.storeCert, key: config.storeKey },
              storeUrl.endpoints,
            ),
          ),
          storeUrl: config.store,
          state,
          docker,
          ipam,
          overlay: new IprouteOverlay({ exec: execFile, logger: log.child("overlay") }),
          logger: log.child("cluster"),
          now,
          name: config.name,
          advertiseAddr,
          vxlanPort: config.vxlanPort,
          driverName: config.driverName,
          defaultNetwork: config.defaultNetwork,
        })
      : undefined;
    const peers = cluster ? () => clusterPeers(cluster) : undefined;
    // Read at scrape time only, once `sync` exists.
    const metrics = daemonMetrics({
      state,
      dockerReachable: () => sync.status === "reachable",
      ...(peers ? { peers } : {}),
    });
    const dns = !config.noDns
      ? new DnsService({ config, state, docker, queue, logger: log.child("dns"), onQuery: metrics.dnsQuery })
      : undefined;
    const driver = new NetworkDriver({
      state,
      dataplane,
      queue,
      logger: log.child("driver"),
      config: { mtu, nameserver: config.nameserver },
      now,
      onNetworksChanged: () => {
        void dns?.updateAddresses();
        cluster?.networksChanged();
      },
      onEndpointsChanged: () => cluster?.endpointsChanged(),
      onSubnetClash: (pools) => ipam.expectRollback(pools),
      ...(cluster
        ? {
            bindClusterPools: (req: CreateNetworkRequest) =>
              cluster.ipam.bindNetwork([...req.ipv4, ...req.ipv6].map((d) => d.Pool)),
          }
        : {}),
    });

    // Orphans are removed later, by the Docker sync, once Docker has said what it still has.
    const desired = desiredDataplane(state.listNetworks(), state.listEndpoints());
    const report = await dataplane.reconcile(desired, "create");
    if (report.applied.length > 0) log.info("kernel reconciled with the state", { applied: report.applied });
    // With no network on record (first start, or a lost state directory) the rules in the kernel are
    // left as they are until the Docker sync has adopted what Docker still has.
    if (desired.policies.length > 0) await driver.applyPolicies();

    const reserver = new SocketPortReserver();
    closers.push({ name: "ports", close: () => reserver.close() });
    const ports = new PortPublisher({
      state,
      dataplane: new NftPortDataplane(execFile, log.child("ports")),
      reserver,
      queue,
      logger: log.child("ports"),
      now,
      ephemeral: ephemeralRange(log),
      // A port held by an endpoint Docker may have lost: let the sync check now (not awaited: outside
      // the plugin call). Before the sync exists (first instants after start) its own first pass does.
      onAllocatedConflict: () => {
        try {
          void sync.syncNow().catch(() => undefined);
        } catch {
          // `sync` is not built yet.
        }
      },
    });
    // Published ports come back as they were (held again, rules re-applied) before Docker can call.
    await ports.converge();

    const routes = buildRoutes({
      driver,
      ports,
      ipam: cluster?.ipam ?? ipam,
      queue,
      ...(cluster ? { beforeNetworkDelete: (id: string) => cluster.beforeNetworkDelete(id) } : {}),
      hostRoutes: async () => (await dataplane.hostRoutes()).map((r) => parsePrefix(r)),
    });
    const plugin = new PluginServer({
      socketPath: config.socket,
      socketMode: 0o660,
      socketGid: gid,
      routes,
      logger: log.child("plugin"),
      observe: metrics.pluginCall,
    });
    await plugin.start();
    closers.push({ name: "plugin", close: () => plugin.close() });

    if (dns) {
      await dns.start();
      closers.push({ name: "dns", close: () => dns.close() });
    }
    if (cluster) {
      if (dns) cluster.attachDns(dns.zone);
      cluster.start();
      closers.push({ name: "cluster", close: () => cluster.close() });
      log.info("joining the cluster", {
        store: config.store,
        name: config.name,
        advertiseAddr,
        vxlanPort: config.vxlanPort,
      });
    }
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
      graceMs: 30_000,
      intervalMs: 10_000,
      onAdopted: () => void dns?.reconcile().catch(() => undefined),
      afterRepair: () => ports.converge(),
      ...(cluster ? { defaultNetworkBody: () => cluster.defaultNetworkBody() } : {}),
    });

    let stopRequested: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
    const control = new ControlServer(
      controlSocketPath(config.runDir),
      controlRoutes({
        config,
        state,
        docker,
        sync,
        dns,
        mtu,
        cluster,
        stop: () => setImmediate(stopRequested),
      }),
      log.child("control"),
    );
    await control.start();
    closers.push({ name: "control", close: () => control.close() });

    const status = createStatusServer({
      config,
      state,
      docker,
      sync,
      dns,
      mtu,
      metrics,
      cluster,
      ...(peers ? { peers } : {}),
      logger: log.child("status"),
    });
    if (status) {
      await status.start();
      closers.push({ name: "status", close: () => status.close() });
    }

    const pidFile = join(config.runDir, "weave.pid");
    writeFileSync(pidFile, `${process.pid}\n`);
    closers.push({ name: "pidfile", close: () => rmSync(pidFile, { force: true }) });

    sync.start();
    closers.push({ name: "docker-sync", close: () => sync.close() });

    const onSignal = (signal: string) => {
      log.info("signal received, stopping", { signal });
      stopRequested();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    log.info("weave started", { version: VERSION, socket: config.socket, stateDir: config.stateDir, mtu });

    await stopped;
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  } catch (err) {
    await shutdown();
    throw err;
  }
  const deadline = setTimeout(() => {
    log.error("shutdown took too long; exiting");
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  await shutdown();
  clearTimeout(deadline);
  log.info("weave stopped");
}

/** The kernel's ephemeral port range, where Docker's bridge driver picks host ports too. */
function ephemeralRange(log: Logger) {
  const path = "/proc/sys/net/ipv4/ip_local_port_range";
  try {
    return parsePortRange(readFileSync(path, "utf8"));
  } catch (err) {
    log.warning("cannot read the ephemeral port range; using Docker's default", {
      path,
      error: errorMessage(err),
    });
    return DEFAULT_EPHEMERAL_RANGE;
  }
}
