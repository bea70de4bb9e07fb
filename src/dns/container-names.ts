/**
 * Which names a container gets in weaveDNS (pure). For every weave network the container is on:
 * `<container name>.<domain>`, its hostname when that lies in the domain (`-h db.weave.local`), and
 * each network alias as `<alias>.<domain>`; all with the container's addresses on that network.
 * Docker's automatic alias (the short container ID) is left out; names that are not valid DNS
 * names are skipped rather than failing the whole container.
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
  const byName = new Map<string, { ipv4: Set<string>; ipv6: Set<string> }>();
  const name = container.Name.replace(/^\//, "");
  const host = [container.Config.Hostname, container.Config.Domainname].filter((x) => x !== "").join(".");
  const hostInDomain = host !== "" && toZoneName(`${host}.`, domain) !== undefined ? `${host}.` : undefined;
  for (const net of Object.values(container.NetworkSettings.Networks ?? {})) {
    if (!isWeaveNetwork(net.NetworkID)) continue;
    const names = [name, ...(net.Aliases ?? []).filter((a) => !container.Id.startsWith(a))];
    if (hostInDomain) names.push(hostInDomain);
    for (const n of names) {
      const zoneName = toZoneName(n, domain);
      if (zoneName === undefined) continue;
      const slot = byName.get(zoneName) ?? { ipv4: new Set<string>(), ipv6: new Set<string>() };
      if (net.IPAddress) slot.ipv4.add(net.IPAddress);
      if (net.GlobalIPv6Address) slot.ipv6.add(net.GlobalIPv6Address);
      byName.set(zoneName, slot);
    }
  }
  return [...byName].map(([n, a]) => ({ name: n, ipv4: [...a.ipv4], ipv6: [...a.ipv6] }));
}
