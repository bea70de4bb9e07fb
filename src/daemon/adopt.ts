/**
 * Adoption: Docker networks of driver weave that weave has no record of (its state directory was
 * lost or replaced) are taken back from what Docker reports: the network (bridge, rules), its
 * pools and addresses when weave is its IPAM, and the endpoints of running containers. Without this,
 * such networks would fail every call with "unknown network" until removed by hand.
 */
import type { Logger } from "../core/index.js";
import type { DockerApi, DockerNetwork } from "../docker/index.js";
import type { NetworkDriver } from "../driver/index.js";
import { OPT_GENERIC, OPT_INTERNAL } from "../driver/index.js";
import type { IpamService } from "../ipam/index.js";
import { LOCAL_ADDRESS_SPACE, parsePrefix } from "../ipam/index.js";
import type { IpamData, NetworkReader } from "../store/index.js";

/** Adopts every weave network Docker has and weave does not; returns the IDs adopted. */
export async function adoptUnknownNetworks(o: {
  docker: DockerApi;
  state: NetworkReader;
  driver: NetworkDriver;
  ipam: IpamService;
  logger: Logger;
  driverName: string;
}): Promise<string[]> {
  const adopted: string[] = [];
  for (const summary of await o.docker.listNetworks({ driver: [o.driverName] })) {
    if (summary.Driver !== o.driverName || o.state.getNetwork(summary.Id)) continue;
    const network = await o.docker.inspectNetwork(summary.Id);
    await adoptNetwork(o, network);
    adopted.push(network.Id);
    o.logger.info("adopted a network weave had no record of", { network: network.Id, name: network.Name });
  }
  return adopted;
}

function toIpamData(network: DockerNetwork, family: 4 | 6): IpamData[] {
  const out: IpamData[] = [];
  for (const c of network.IPAM.Config ?? []) {
    if (!c.Subnet) continue;
    const pool = parsePrefix(c.Subnet);
    if (pool.family !== family) continue;
    const d: IpamData = { Pool: c.Subnet };
    if (c.Gateway) d.Gateway = `${c.Gateway}/${pool.bits}`;
    const aux = Object.entries(c.AuxiliaryAddresses ?? {});
    if (aux.length > 0) d.AuxAddresses = Object.fromEntries(aux.map(([k, v]) => [k, `${v}/${pool.bits}`]));
    out.push(d);
  }
  return out;
}

async function adoptNetwork(
  o: { driver: NetworkDriver; ipam: IpamService; driverName: string },
  network: DockerNetwork,
): Promise<void> {
  const ipv4 = toIpamData(network, 4);
  const ipv6 = toIpamData(network, 6);
  await o.driver.createNetwork({
    networkId: network.Id,
    options: { [OPT_GENERIC]: { ...(network.Options ?? {}) }, [OPT_INTERNAL]: network.Internal },
    ipv4,
    ipv6,
  });
  const containers = Object.values(network.Containers ?? {});
  if (network.IPAM.Driver === o.driverName) {
    for (const c of network.IPAM.Config ?? []) {
      if (!c.Subnet) continue;
      const family = parsePrefix(c.Subnet).family;
      const addresses = containers.map((x) => (family === 4 ? x.IPv4Address : x.IPv6Address));
      addresses.push(...Object.values(c.AuxiliaryAddresses ?? {}));
      await o.ipam.adoptPool(LOCAL_ADDRESS_SPACE, c.Subnet, c.IPRange ?? "", c.Gateway ?? "", addresses);
    }
  }
  for (const c of containers) {
    await o.driver.adoptEndpoint(
      { networkId: network.Id, endpointId: c.EndpointID },
      c.MacAddress,
      c.IPv4Address,
      c.IPv6Address,
    );
  }
}
