/** The control API's routes (see control-server.ts), over the daemon's components. */
import type { ClusterPort, ClusterStatus } from "../cluster/index.js";
import { notInCluster } from "../cluster/index.js";
import type { Config } from "../config/index.js";
import { WeaveError } from "../core/index.js";
import type { DockerApi } from "../docker/index.js";
import type { NetworkReader, PortBindingReader } from "../store/index.js";
import type { ControlHandler } from "./control-server.js";
import type { DnsChange, DnsService } from "./dns-service.js";
import type { DockerSync } from "./docker-sync.js";
import { buildPs, buildStatus, type StatusView } from "./views.js";

/** What `weave status`, `weave ps` and the status page read: the daemon's components, read only. */
export interface DaemonViews {
  config: Config;
  state: NetworkReader & PortBindingReader;
  docker: DockerApi;
  sync: DockerSync;
  dns: DnsService | undefined;
  mtu: number;
}

export function controlRoutes(
  o: DaemonViews & { cluster: ClusterPort; stop: () => void },
): Record<string, ControlHandler> {
  const dns = (): DnsService => {
    if (!o.dns)
      throw new WeaveError("WEAVE_UNSUPPORTED", "weaveDNS is off (weave was launched with --no-dns)");
    return o.dns;
  };
  return {
    "GET /status": async () => statusJson(o),
    "GET /ps": async () => buildPs({ state: o.state, docker: o.docker, driverName: o.config.driverName }),
    "POST /stop": async () => {
      o.stop();
      return { stopping: true };
    },
    "GET /dns": async () => ({ status: dns().status(), entries: dns().entries() }),
    "GET /dns/lookup": async ({ query }) => {
      const name = query.get("name") ?? "";
      if (name === "") throw new WeaveError("WEAVE_BAD_REQUEST", "Give a name to look up");
      return { name, addresses: dns().lookup(name) };
    },
    "POST /dns/add": async ({ body }) => ({ added: await dns().add(dnsChange(body)) }),
    "POST /dns/remove": async ({ body }) => ({ removed: await dns().remove(dnsChange(body)) }),
    "GET /peers": async () => {
      const status = o.cluster.status();
      if (!status) throw notInCluster();
      return status;
    },
    "POST /rmpeer": async ({ body }) => {
      const name = (body as Record<string, unknown> | null)?.["name"];
      if (typeof name !== "string" || name === "")
        throw new WeaveError("WEAVE_BAD_REQUEST", "Give the name of the peer to remove");
      return { peer: name, blocksReleased: await o.cluster.removePeer(name) };
    },
    "POST /wireguard/rotate": async () => ({ publicKey: await o.cluster.rotateKey() }),
  };
}

/** What `weave status --json` prints; also the status server's /status.json. */
export async function statusJson(o: {
  config: Config;
  state: NetworkReader;
  docker: DockerApi;
  sync: DockerSync;
  dns: DnsService | undefined;
  mtu: number;
  cluster: Pick<ClusterPort, "status">;
}): Promise<StatusView & { dns: ReturnType<DnsService["status"]> | null; cluster: ClusterStatus | null }> {
  return { ...(await buildStatus(o)), dns: o.dns?.status() ?? null, cluster: o.cluster.status() ?? null };
}

function dnsChange(body: unknown): DnsChange {
  const b = (body ?? {}) as Record<string, unknown>;
  const ips = Array.isArray(b["ips"]) ? b["ips"].filter((x): x is string => typeof x === "string") : [];
  const str = (k: string) => (typeof b[k] === "string" && b[k] !== "" ? b[k] : undefined);
  return { ips, container: str("container"), fqdn: str("fqdn"), network: str("network") };
}
