/**
 * The routed transport's vocabulary. A container on another host is reached without encapsulation:
 * a host route (`/32` or `/128`, tagged with weave's route protocol) sends its address to the peer
 * holding it (`via` the peer's underlay address, or `dev` the WireGuard device when encrypted), and
 * the network's bridge answers ARP and IPv6 neighbour discovery for it (a proxy neighbour entry), so
 * containers keep one flat subnet across hosts and see no router hop.
 */
import type { ReconcileOptions, ReconcileReport } from "./types.js";

/** One remote container address, reached through a peer. */
export interface RoutedRemote {
  /** Plain IPv4 or IPv6 address (no prefix length). */
  ip: string;
  /** Next hop: the peer's underlay address (IPv4 or IPv6). Exactly one of `via` and `dev`. An IPv4
   * remote may go via an IPv6 address (`via inet6`, Linux 5.2+); an IPv6 remote needs an IPv6 `via`
   * or `dev`: Linux has no IPv6 routes through IPv4 next hops ("IPv6 does not support RTA_VIA"). */
  via?: string;
  /** Or the device that carries it (the WireGuard device: it picks the peer by allowed IPs). */
  dev?: string;
}

/** One weave network's routed state on this host. */
export interface RoutedNetwork {
  /** The network's bridge, `weave` or `weave-*` (must exist): proxy entries and sysctls are set on it. */
  bridge: string;
  remotes: RoutedRemote[];
}

/** Routing protocol number that marks weave's routes (`ip route ... proto 87`; 87 is "W"). */
export const WEAVE_ROUTE_PROTO = 87;

/**
 * The routed data-plane port. Idempotent; invalid specs reject with WEAVE_BAD_REQUEST before anything
 * is run, kernel failures with WEAVE_DATAPLANE.
 */
export interface RoutedDataplane {
  /** Makes weave's host routes (proto 87, main table, both families) and the proxy neighbour entries
   * on weave's bridges exactly `desired`, and sets the sysctls of bridges with remotes (no proxy
   * delay; IPv6 proxy_ndp) and forwarding of the families in use (net.ipv4.ip_forward,
   * net.ipv6.conf.all.forwarding), writing only values that differ. Removes weave routes and proxy
   * entries `desired` does not name. Returns the human-readable operations applied ([] when the
   * kernel already matches). With `full: false` the kernel's state may be the one the port read
   * last plus what it applied since. */
  reconcile(desired: readonly RoutedNetwork[], options?: ReconcileOptions): Promise<ReconcileReport>;
}
