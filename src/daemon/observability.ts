/**
 * The daemon's metrics and status server, over its components: gauges read the state at scrape
 * time, the status views are those of `weave status` and `weave ps` (views.ts).
 */
import { hostname } from "node:os";
import type { Logger } from "../core/index.js";
import { parseListenAddress, VERSION, WeaveError } from "../core/index.js";
import type { PeerState, WeaveMetrics } from "../metrics/index.js";
import { createWeaveMetrics, poolUsage, SINGLE_HOST_PEERS } from "../metrics/index.js";
import { StatusServer } from "../status/index.js";
import type { IpamReader, NetworkReader } from "../store/index.js";
import type { DaemonViews } from "./control-routes.js";
import { statusJson } from "./control-routes.js";
import type { ClusterPort } from "../cluster/index.js";
import { buildPs, buildStatus } from "./views.js";

/**
 * weave's metrics over the state. `dockerReachable` and `peers` are read at each scrape; peers
 * default to this host alone (multi-host passes the peers it knows).
 */
export function daemonMetrics(o: {
  state: NetworkReader & IpamReader;
  dockerReachable: () => boolean;
  peers?: () => readonly PeerState[];
}): WeaveMetrics {
  return createWeaveMetrics({
    version: VERSION,
    pools: () => poolUsage(o.state.listPools(), o.state.listAddresses()),
    networks: () => o.state.listNetworks().length,
    endpoints: () => o.state.listEndpoints().length,
    peers: o.peers ?? (() => SINGLE_HOST_PEERS),
    dockerReachable: o.dockerReachable,
  });
}

/** The peers of a cluster as the metrics and the status page show them: `up` or `down`. */
export function clusterPeers(cluster: Pick<ClusterPort, "status">): PeerState[] {
  return (cluster.status()?.peers ?? []).map((p) => ({
    name: p.name,
    state: p.state === "gone" || (p.state === "alive" && !p.up) ? "down" : "up",
    ...(p.transport !== null && p.encryption !== null
      ? {
          path: {
            transport: p.transport,
            encryption: p.encryption,
            mtu: p.mtu,
            handshakeAgeS: p.handshakeAgeS,
            up: p.up,
          },
        }
      : {}),
  }));
}

/** The status server on `--status-addr`, or undefined when it is "" (turned off). Not started. */
export function createStatusServer(
  o: DaemonViews & { metrics: WeaveMetrics; cluster: Pick<ClusterPort, "status">; logger: Logger },
): StatusServer | undefined {
  if (o.config.statusAddr === "") return undefined;
  const listen = parseListenAddress(o.config.statusAddr);
  // parseConfig has validated the address; this only narrows the type.
  if (!listen) throw new WeaveError("WEAVE_CONFIG", `Invalid status address "${o.config.statusAddr}"`);
  const peers = () => (o.cluster.status() ? clusterPeers(o.cluster) : SINGLE_HOST_PEERS);
  return new StatusServer({
    listen,
    logger: o.logger,
    metrics: () => o.metrics.registry.expose(),
    status: () => statusJson(o),
    picture: async () => {
      const [status, containers] = await Promise.all([
        buildStatus(o),
        buildPs({ state: o.state, docker: o.docker, driverName: o.config.driverName }),
      ]);
      // The cluster section draws the peers as `weave status peers` shows them (a host alone: none).
      const cluster = o.cluster.status();
      return {
        hostname: hostname(),
        generatedAt: new Date().toISOString(),
        status,
        dns: o.dns?.status() ?? null,
        containers,
        peers: [...peers()],
        ...(cluster ? { cluster } : {}),
      };
    },
  });
}
