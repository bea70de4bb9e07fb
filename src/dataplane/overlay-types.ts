/**
 * The multi-host overlay's vocabulary. Each weave network that spans hosts gets, on every host, one
 * kernel VXLAN device named `vxw<VNI>` enslaved to the network's bridge. The device never learns:
 * weave programs a static FDB entry (MAC -> peer host) and a permanent neighbour entry (IP -> MAC) per
 * remote container, so unicast is never flooded and, with `proxy`, ARP/ND requests for remote
 * containers are answered by the local kernel. Broadcast and unknown traffic goes by head-end
 * replication to each flood peer (one all-zero FDB entry per peer). Weave owns the names `vxw<digits>`.
 */
import type { ReconcileOptions, ReconcileReport } from "./types.js";

/** One VXLAN device of one weave network on this host, enslaved to the network's bridge. */
export interface VxlanSpec {
  /** "vxw" + decimal VNI, e.g. "vxw4096" (at most 15 chars). Use vxlanName(vni). */
  name: string;
  /** VXLAN network identifier, 1..16777215. */
  vni: number;
  /** UDP destination port (1..65535). */
  port: number;
  /** This host's underlay IPv4 address (advertise address). */
  local: string;
  mtu: number;
  /** Master bridge (must exist). */
  bridge: string;
}

/** A container on another host, reachable through `peer` (that host's underlay IPv4 address). */
export interface RemoteEndpoint {
  mac: string;
  ipv4?: string;
  ipv6?: string;
  peer: string;
}

export interface OverlayNetwork {
  spec: VxlanSpec;
  /** Underlay addresses of the other hosts that have endpoints on this network: broadcast, unknown
   * unicast and multicast go to each of them (head-end replication: one all-zero FDB entry each). */
  floodPeers: string[];
  /** Static FDB entry (mac -> peer) and permanent neighbour entries (ip -> mac) on the VXLAN device,
   * one per remote endpoint, so unicast and ARP/ND never need flooding (the device has `proxy`). */
  endpoints: RemoteEndpoint[];
}

/**
 * The overlay data-plane port. Idempotent; failures reject with WeaveError WEAVE_DATAPLANE, invalid
 * specs with WEAVE_BAD_REQUEST before anything is run.
 */
/**
 * A part of the overlay's entries: the FDB entries of these MACs, the neighbour entries of these
 * addresses (canonical text), and the flood entries when `flood`. Lower-case MACs.
 */
export interface OverlaySlice {
  macs: ReadonlySet<string>;
  ips: ReadonlySet<string>;
  flood: boolean;
}

export interface OverlayReconcileOptions extends ReconcileOptions {
  /** Change only these entries (see OverlaySlice and overlay-slice.ts): `desired` then needs to hold
   * only the endpoints with one of the slice's MACs or addresses, and devices are left as they are. */
  only?: OverlaySlice;
}

export interface OverlayDataplane {
  /** Makes the kernel's weave VXLAN devices (names vxw*) exactly `desired`: creates or fixes devices
   * (attributes: id, dstport, local, nolearning, proxy, mtu, master, up; a device whose id/port/local
   * differ is deleted and recreated), adds/replaces/removes FDB and neighbour entries so that each
   * device holds exactly the desired ones, and deletes vxw* devices that `desired` does not name.
   * Idempotent; returns the human-readable operations applied. Rejects with WeaveError WEAVE_DATAPLANE
   * (or WEAVE_BAD_REQUEST for invalid specs, checked before anything is run). With `full: false`
   * the kernel's state may be the one the port read last plus what it applied since. */
  reconcile(desired: readonly OverlayNetwork[], options?: OverlayReconcileOptions): Promise<ReconcileReport>;
  /** The MTU of the device that carries traffic to `address` (ip route get), or undefined. */
  routeMtu(address: string): Promise<number | undefined>;
}

export const VXLAN_PREFIX = "vxw";

/** The name of the VXLAN device for `vni`: `vxw` + decimal VNI (e.g. `vxw4096`, at most 11 chars). */
export function vxlanName(vni: number): string {
  return `${VXLAN_PREFIX}${vni}`;
}
