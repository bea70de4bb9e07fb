/**
 * The VXLAN transport: one `vxw<VNI>` device per network, a static FDB and neighbour entry per remote
 * container whose peer is reached by VXLAN, head-end replication to those peers. Inside WireGuard
 * the device's local and remote addresses are the tunnel addresses, so the encapsulated packets go
 * through the tunnel.
 *
 * Routed peers keep the network one layer-2 segment for what routing cannot carry: broadcast and
 * multicast are replicated to them too, and their containers' MACs have FDB entries (never flooded
 * as unknown unicast). Their addresses get no neighbour entry, so the device's ARP/ND proxy stays
 * silent and the bridge's proxy answer (the routed transport's) sends unicast by routing. The
 * device's proxy consumes every ARP request and neighbour solicitation, so none ever crosses hosts.
 * The kernel cannot route IPv6 via an IPv4 next hop: a routed peer's IPv6 addresses over an IPv4
 * underlay (without WireGuard) do get neighbour entries, and their traffic goes by VXLAN.
 */
import type { OverlayDataplane, OverlayNetwork, RemoteEndpoint } from "../../dataplane/index.js";
import type { NeighLimits } from "../../dataplane/index.js";
import { neighCounts, vxlanName } from "../../dataplane/index.js";
import type { Transport, TransportInput } from "./transport.js";
import { sameFamily } from "./routed.js";
import { pathsOf } from "./transport.js";

/** The VXLAN devices and entries this host should have. Pure. */
export function vxlanNetworks(input: TransportInput, port: number): OverlayNetwork[] {
  const paths = pathsOf(input, "vxlan");
  const routed = pathsOf(input, "routed");
  const local = input.tunnel?.address ?? input.local;
  return input.view.networks.map((n) => {
    const endpoints: RemoteEndpoint[] = [];
    const flood = new Set<string>();
    for (const peer of n.peers) {
      const path = paths.get(peer) ?? routed.get(peer);
      if (path) flood.add(path.vxlanTo);
    }
    for (const r of n.remotes) {
      const path = paths.get(r.peer);
      if (path) {
        endpoints.push({
          mac: r.mac,
          peer: path.vxlanTo,
          ...(r.ipv4 !== undefined ? { ipv4: r.ipv4 } : {}),
          ...(r.ipv6 !== undefined ? { ipv6: r.ipv6 } : {}),
        });
        continue;
      }
      const viaRouted = routed.get(r.peer);
      if (!viaRouted) continue;
      const unroutable =
        !input.tunnel && r.ipv6 !== undefined && !sameFamily(r.ipv6, viaRouted.nextHop) ? r.ipv6 : undefined;
      endpoints.push({
        mac: r.mac,
        peer: viaRouted.vxlanTo,
        ...(unroutable !== undefined ? { ipv6: unroutable } : {}),
      });
    }
    return {
      spec: { name: vxlanName(n.vni), vni: n.vni, port, local, mtu: n.mtu, bridge: n.bridge },
      floodPeers: [...flood].sort(),
      endpoints,
    };
  });
}

/**
 * The VXLAN transport over `overlay`. With `limits`, the kernel's neighbour table limits are raised
 * before programming when the neighbour entries needed come near them (see NeighLimits).
 */
export function vxlanTransport(overlay: OverlayDataplane, port: number, limits?: NeighLimits): Transport {
  return {
    name: "vxlan",
    apply: async (input, pass) => {
      const networks = vxlanNetworks(input, port);
      const { slice } = pass;
      if (slice) {
        // Limits are checked on the other passes (at least every interval): a slice adds few entries.
        const only = { macs: slice.macs, ips: slice.ips, flood: slice.flood };
        return overlay.reconcile(networks, { full: false, only });
      }
      await limits?.ensure(neighCounts(networks), pass.full);
      return overlay.reconcile(networks, { full: pass.full });
    },
  };
}
