/**
 * The routed transport: no encapsulation. Each remote container's address is routed to the peer
 * that holds it (via its underlay address, or into the WireGuard device when encrypted) and the
 * network's bridge answers ARP and neighbour discovery for it, so the subnet stays flat.
 * The kernel cannot route IPv6 to an IPv4 next hop: without WireGuard, the IPv6 addresses of a
 * routed peer reached over an IPv4 underlay are left to the VXLAN transport (see vxlanNetworks).
 */
import type { RoutedDataplane, RoutedNetwork, RoutedRemote } from "../../dataplane/index.js";
import type { Transport, TransportInput } from "./transport.js";
import { pathsOf } from "./transport.js";

/** The routes and proxy entries this host should have. Pure. */
export function routedNetworks(input: TransportInput): RoutedNetwork[] {
  const paths = pathsOf(input, "routed");
  const device = input.tunnel?.device;
  return input.view.networks.map((n) => {
    const remotes: RoutedRemote[] = [];
    for (const r of n.remotes) {
      const path = paths.get(r.peer);
      if (!path) continue;
      for (const ip of [r.ipv4, r.ipv6]) {
        if (ip === undefined || (device === undefined && !sameFamily(ip, path.nextHop))) continue;
        remotes.push(device !== undefined ? { ip, dev: device } : { ip, via: path.nextHop });
      }
    }
    return { bridge: n.bridge, remotes };
  });
}

/** True when the kernel can route `ip` via `nextHop` (IPv4 via IPv6 works, IPv6 via IPv4 does not). */
export function sameFamily(ip: string, nextHop: string): boolean {
  return !ip.includes(":") || nextHop.includes(":");
}

export function routedTransport(routed: RoutedDataplane): Transport {
  return {
    name: "routed",
    // A slice comes only when no path is routed, before or after: nothing of this transport's changes.
    apply: async (input, pass) =>
      pass.slice ? { applied: [] } : routed.reconcile(routedNetworks(input), { full: pass.full }),
  };
}
