/**
 * The WireGuard data plane's vocabulary: one WireGuard device per host that carries every other
 * transport between encrypted peers (VXLAN to the peers' tunnel addresses, routed traffic to their
 * containers' addresses). The device is the kernel's `wireguard` link where the kernel has one,
 * otherwise Debian's userspace `wireguard-go` (a tun device and a control socket in /run/wireguard).
 */
import type { ReconcileReport } from "./types.js";

export type WireguardImplementation = "kernel" | "wireguard-go";

export interface WireguardPeerSpec {
  /** Base64 Curve25519 public key (44 chars). */
  publicKey: string;
  /** Base64 32-byte preshared key (derived from the cluster password). */
  presharedKey: string;
  /** `ADDRESS:PORT`, `[IPV6]:PORT` for IPv6 (literal addresses, no host names). */
  endpoint: string;
  /** CIDRs this peer may send from and is sent to (its tunnel address, its containers' addresses);
   * host bits must be zero (`10.32.1.0/24`, `fd77:6561:7665:0:1:2:3:4/128`). */
  allowedIps: string[];
  /** Seconds between keepalives when idle; 0 or absent: none. Weave uses 25 so that handshakes stay
   * fresh (a session is re-keyed only while packets flow, and status counts a peer as up after a
   * handshake in the last 180 s). */
  persistentKeepalive?: number;
}

export interface WireguardSpec {
  /** Device name: `wvg` + 8 lower-case hex digits (see isWeaveWireguardName), unique on the machine
   * (wireguard-go's control socket /run/wireguard/NAME.sock is shared by all network namespaces). */
  name: string;
  /** Base64 Curve25519 private key. */
  privateKey: string;
  listenPort: number;
  /** This host's tunnel address with its prefix, e.g. `fd77:6561:7665::1a2b:3c4d:5e6f:7081/64`. */
  address: string;
  mtu: number;
  peers: WireguardPeerSpec[];
}

/** What the device reports about one peer (`wg show NAME dump`). */
export interface WireguardPeerState {
  publicKey: string;
  /** Last completed handshake (ms since the epoch); 0 when there has been none. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  endpoint?: string;
}

/**
 * The WireGuard data-plane port. `reconcile(spec)` creates the device when missing (detecting which
 * implementation this machine has), sets its key, port, address, MTU and up state, and makes its peers
 * exactly `spec.peers` without disturbing sessions of peers that did not change (`wg syncconf`);
 * `reconcile(undefined)` removes weave's device. Every other weave WireGuard device (`wvg` + 8 hex
 * digits) in the network namespace is removed as well, so a renamed device does not linger. Invalid
 * specs reject with WEAVE_BAD_REQUEST before anything is run; failures with WEAVE_DATAPLANE.
 */
export interface WireguardDataplane {
  /** The implementation in use, once the device exists (undefined before the first reconcile). */
  readonly implementation: WireguardImplementation | undefined;
  reconcile(spec: WireguardSpec | undefined): Promise<ReconcileReport>;
  /** The peers of the device of the last reconcile, as the device reports them ([] when there is
   * none: before the first reconcile, after reconcile(undefined), or when the device is gone). */
  peers(): Promise<WireguardPeerState[]>;
}
