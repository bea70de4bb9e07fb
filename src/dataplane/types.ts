/**
 * The data plane's vocabulary. Weave owns:
 *  - bridges named `weave` (the default network) or `weave-*`, one per weave network;
 *  - veth pairs whose host end is `vwe<10 hex>` and whose container end is `vwp<10 hex>`
 *    (Docker renames the container end to `ethweN` inside the sandbox);
 *  - the nftables tables `inet weave` (filter) and `ip weave-nat` (masquerade), replaced as a whole;
 *  - iptables rules in `filter FORWARD` that carry the comment `weave:<bridge>` (only added where the
 *    FORWARD policy is DROP, as dockerd sets it, so that weave's traffic is not dropped there).
 */

/** A Linux bridge for one weave network on this host. */
export interface BridgeSpec {
  /** Interface name, at most 15 characters. */
  name: string;
  mtu: number;
  /** Gateway addresses in CIDR form (`10.32.0.1/24`), assigned to the bridge. */
  addresses: string[];
  /**
   * The bridge's MAC. A network spanning several hosts has the same gateway address on every host,
   * so its bridges share one MAC too: a gateway ARP reply that crosses the overlay then names the
   * local bridge anyway. When absent, a random MAC is picked at creation and kept.
   */
  mac?: string;
}

/** A veth pair for one endpoint; the host end is attached to the bridge and up. */
export interface VethSpec {
  hostName: string;
  peerName: string;
  bridge: string;
  mtu: number;
  /** MAC of the container end (`02:..`); when absent the kernel's is kept. */
  peerMac?: string;
}

/** Traffic rules of one network. */
export interface NetworkPolicy {
  bridge: string;
  /** IPv4/IPv6 subnets of the network, CIDR. */
  subnets: string[];
  /** Internal networks have no way out: nothing forwarded in or out of the bridge. */
  internal: boolean;
  /** Gateway addresses (plain IPs) on the bridge; the only host addresses an internal network reaches. */
  gateways?: string[];
}

export interface DataplaneState {
  bridges: BridgeSpec[];
  veths: VethSpec[];
  policies: NetworkPolicy[];
}

/**
 * What the kernel should hold, or a function computing it. The function is called after the kernel
 * has been read, so that an object recorded in between is never mistaken for an orphan.
 */
export type DesiredState = DataplaneState | (() => DataplaneState);

export type ReconcileMode = "full" | "create" | "orphans";

/** How a transport port reconciles (OverlayDataplane, RoutedDataplane). */
export interface ReconcileOptions {
  /** Read the kernel's state for real (the periodic pass; the default). When false, the port may
   * plan against the state it read before plus the operations it applied since (see cached-state.ts). */
  full?: boolean;
}

export interface ReconcileReport {
  /** Human-readable list of the operations that were applied, e.g. `create bridge weave-1a2b3c4d5`. */
  applied: string[];
}

/**
 * The data-plane port. Every method is idempotent: creating what exists with the right attributes
 * and deleting what is gone both succeed. Failures reject with WeaveError code WEAVE_DATAPLANE.
 */
export interface Dataplane {
  ensureBridge(spec: BridgeSpec): Promise<void>;
  deleteBridge(name: string): Promise<void>;
  ensureVeth(spec: VethSpec): Promise<void>;
  deleteVeth(hostName: string): Promise<void>;
  /** Replaces all of weave's traffic rules with exactly these policies (atomically for nftables). */
  applyPolicies(policies: NetworkPolicy[]): Promise<void>;
  /**
   * Makes the kernel's links (bridges, veths) match `desired`; policies are applied separately with
   * applyPolicies. Mode "full" (default) creates or fixes what is missing and removes weave-owned
   * orphans; "create" leaves orphans alone (used at start, before Docker has been asked which unknown
   * objects are really orphans); "orphans" only removes weave-owned links that `desired` does not name
   * (safe while plugin calls run, because the driver records an object before creating it).
   */
  reconcile(desired: DesiredState, mode?: ReconcileMode): Promise<ReconcileReport>;
  /** Destinations (CIDR) of the main routing table's routes, except routes via weave's own bridges. */
  hostRoutes(): Promise<string[]>;
}

export const VETH_HOST_PREFIX = "vwe";
export const VETH_PEER_PREFIX = "vwp";
export const BRIDGE_PREFIX = "weave-";
export const DEFAULT_BRIDGE = "weave";
