/**
 * Which names a container gets in weaveDNS (pure). For every weave network the container is on:
 * `<container name>.<domain>`, its hostname when that lies in the domain (`-h db.weave.local`), and
 * each network alias as `<alias>.<domain>`; all with the container's addresses on that network.
 * Docker's automatic alias (the short container ID) is left out; names that are not valid DNS
 * names are skipped rather than failing the whole container. Each entry is scoped to its network
 * (by name, the same on every host) and marks the container's own addresses (`member`), so only
 * containers sharing a network with it see its names (Zone views).
 */
import type { DockerContainer } from "../docker/index.js";
import type { ZoneEntry } from "./zone.js";
import { toZoneName } from "./zone.js";

export function containerEntries(
  container: DockerContainer,
  isWeaveNetwork: (networkId: string) => boolean,
  domain: string,
): ZoneEntry[] {
  if (!container.State.Running) return [];
  const out: ZoneEntry[] = [];
  const name = container.Name.replace(/^\//, "");
  const host = [container.Config.Hostname, container.Config.Domainname].filter((x) => x !== "").join(".");
  const hostInDomain = host !== "" && toZoneName(`${host}.`, domain) !== undefined ? `${host}.` : undefined;
  for (const [network, net] of Object.entries(container.NetworkSettings.Networks ?? {})) {
    if (!isWeaveNetwork(net.NetworkID)) continue;
    const ipv4 = net.IPAddress ? [net.IPAddress] : [];
    const ipv6 = net.GlobalIPv6Address ? [net.GlobalIPv6Address] : [];
    if (ipv4.length + ipv6.length === 0) continue;
    // Docker lists the hostname among the aliases too: it is the hostname, and obeys its rule.
    const aliases = (net.Aliases ?? []).filter(
      (a) => !container.Id.startsWith(a) && a !== container.Config.Hostname && a !== host,
    );
    const names = [name, ...aliases];
    if (hostInDomain) names.push(hostInDomain);
    const seen = new Set<string>();
    for (const n of names) {
      const zoneName = toZoneName(n, domain);
      if (zoneName === undefined || seen.has(zoneName)) continue;
      seen.add(zoneName);
      out.push({ name: zoneName, ipv4, ipv6, scope: network, member: true });
    }
  }
  return out;
}
