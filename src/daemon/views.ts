/** What `weave status` and `weave ps` show, assembled from the state and (best effort) Docker. */
import type { Config } from "../config/index.js";
import { VERSION } from "../core/index.js";
import type { DockerApi } from "../docker/index.js";
import type { NetworkReader, PortBindingReader } from "../store/index.js";
import type { DockerSync } from "./docker-sync.js";

export interface NetworkView {
  id: string;
  name: string;
  bridge: string;
  subnets: string[];
  /** Gateway addresses (plain IPs), where weaveDNS listens. */
  gateways: string[];
  internal: boolean;
  mtu: number;
  endpoints: number;
}

export interface StatusView {
  version: string;
  pid: number;
  socket: string;
  stateDir: string;
  mtu: number;
  docker: { status: string; error: string };
  defaultNetwork: { name: string; ready: boolean };
  networks: NetworkView[];
}

export interface PsRow {
  container: string;
  containerId: string;
  network: string;
  endpoint: string;
  mac: string;
  ip: string;
  ipv6: string;
  /** Published ports as `docker ps` writes them: `0.0.0.0:18080->80/tcp`, `[::]:18080->80/tcp`. */
  ports: string[];
}

/** Docker's names of the networks of `driver`, by ID (empty when Docker does not answer). */
export async function networkNames(docker: DockerApi, driver: string): Promise<Map<string, string>> {
  try {
    const list = await docker.listNetworks({ driver: [driver] });
    return new Map(list.map((n) => [n.Id, n.Name]));
  } catch {
    return new Map();
  }
}

export async function buildStatus(o: {
  config: Config;
  state: NetworkReader;
  docker: DockerApi;
  sync: DockerSync;
  mtu: number;
}): Promise<StatusView> {
  const names = await networkNames(o.docker, o.config.driverName);
  return {
    version: VERSION,
    pid: process.pid,
    socket: o.config.socket,
    stateDir: o.config.stateDir,
    mtu: o.mtu,
    docker: { status: o.sync.status, error: o.sync.lastError },
    defaultNetwork: { name: o.config.defaultNetwork, ready: o.sync.defaultNetworkReady },
    networks: o.state.listNetworks().map((n) => ({
      id: n.id,
      name: names.get(n.id) ?? "",
      bridge: n.bridge,
      subnets: [...n.ipv4, ...n.ipv6].map((d) => d.Pool),
      gateways: [...n.ipv4, ...n.ipv6].map((d) => d.Gateway?.split("/")[0] ?? "").filter((g) => g !== ""),
      internal: n.internal,
      mtu: n.mtu,
      endpoints: o.state.listEndpoints(n.id).length,
    })),
  };
}

export async function buildPs(o: {
  state: NetworkReader & PortBindingReader;
  docker: DockerApi;
  driverName: string;
}): Promise<PsRow[]> {
  const names = await networkNames(o.docker, o.driverName);
  const owners = new Map<string, { id: string; name: string }>();
  for (const n of o.state.listNetworks()) {
    try {
      const info = await o.docker.inspectNetwork(n.id);
      for (const [cid, c] of Object.entries(info.Containers ?? {}))
        owners.set(c.EndpointID, { id: cid, name: c.Name });
    } catch {
      // Docker unreachable or network gone: show what weave knows.
    }
  }
  return o.state.listEndpoints().map((ep) => {
    const owner = owners.get(ep.id);
    return {
      container: owner?.name ?? "",
      containerId: owner?.id.slice(0, 12) ?? "",
      network: names.get(ep.networkId) ?? ep.networkId.slice(0, 12),
      endpoint: ep.id.slice(0, 12),
      mac: ep.mac,
      ip: ep.ipv4 ?? "",
      ipv6: ep.ipv6 ?? "",
      ports: o.state
        .listPortBindings(ep.id)
        .map(
          (b) =>
            `${b.family === 6 ? `[${b.hostIp}]` : b.hostIp}:${b.hostPort}->${b.containerPort}/${b.proto}`,
        ),
    };
  });
}
