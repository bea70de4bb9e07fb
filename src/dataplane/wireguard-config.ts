/**
 * WireGuard configuration as text, both ways: the checks a spec passes before anything is run, the
 * `wg syncconf` configuration rendered from it, and the parser of `wg show NAME dump`. Pure.
 *
 * Values are compared in one canonical form (IPv6 compressed, CIDRs with host bits cleared, IPv6
 * endpoints bracketed), the form the kernel and wireguard-go print, so that an unchanged spec plans
 * nothing.
 */
import { isIP } from "node:net";
import { formatAddress, formatPrefix, parseAddress, parsePrefix, WeaveError } from "../core/index.js";
import { bad, checkInt, checkMtu } from "./spec-checks.js";
import type { WireguardPeerSpec, WireguardPeerState, WireguardSpec } from "./wireguard-types.js";

/** The prefix of weave's WireGuard device names. */
export const WIREGUARD_PREFIX = "wvg";
const OWNED = new RegExp(`^${WIREGUARD_PREFIX}[0-9a-f]{8}$`);

/** True for the names of WireGuard devices weave owns: `wvg` + 8 lower-case hex digits. */
export function isWeaveWireguardName(name: string): boolean {
  return OWNED.test(name);
}

const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** True for a base64 WireGuard key (32 bytes, 44 characters). */
export function isWireguardKey(key: string): boolean {
  return KEY.test(key);
}

/**
 * A private key as the kernel and wireguard-go store and print it: clamped for Curve25519 (lowest
 * three bits and the top bit cleared, the second-highest bit set). `wg genkey` keys already are.
 */
export function clampPrivateKey(key: string): string {
  const raw = Buffer.from(key, "base64");
  if (raw.length !== 32) return key;
  raw[0] = (raw[0] ?? 0) & 248;
  raw[31] = ((raw[31] ?? 0) & 127) | 64;
  return raw.toString("base64");
}

function checkKey(what: string, key: string): void {
  // Never quote the value: it may be a secret.
  if (!isWireguardKey(key)) throw bad(`Invalid ${what}: expected 32 bytes in base64 (44 characters)`);
}

/** `ADDRESS:PORT` or `[IPV6]:PORT` in canonical form; WEAVE_BAD_REQUEST when it is neither. */
export function normalizeEndpoint(endpoint: string): string {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(endpoint);
  const host = m?.[1] ?? m?.[2] ?? "";
  const port = Number(m?.[3]);
  if (!m || isIP(host) !== (m[1] !== undefined ? 6 : 4) || port < 1 || port > 65535) {
    throw bad(`Invalid endpoint "${endpoint}": expected ADDRESS:PORT or [IPV6]:PORT`);
  }
  const addr = formatAddress(parseAddress(host));
  return m[1] !== undefined ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** An allowed-IPs CIDR in canonical form; WEAVE_BAD_REQUEST when malformed or host bits are set. */
export function normalizeAllowedIp(cidr: string): string {
  return formatPrefix(parsePrefix(cidr, { strict: true }));
}

/** An interface address with its prefix length in canonical form (host bits kept). */
export function normalizeInterfaceAddress(cidr: string): string {
  const prefix = parsePrefix(cidr);
  return `${formatAddress(parseAddress(cidr.slice(0, cidr.indexOf("/"))))}/${prefix.bits}`;
}

function validatePeer(peer: WireguardPeerSpec, i: number): void {
  checkKey(`public key of peer ${i}`, peer.publicKey);
  checkKey(`preshared key of peer ${i}`, peer.presharedKey);
  normalizeEndpoint(peer.endpoint);
  const seen = new Set<string>();
  for (const cidr of peer.allowedIps) {
    const norm = normalizeAllowedIp(cidr);
    if (seen.has(norm)) throw bad(`Allowed IP "${cidr}" is listed twice for peer ${peer.publicKey}`);
    seen.add(norm);
  }
  if (peer.persistentKeepalive !== undefined) {
    checkInt("persistent keepalive", peer.persistentKeepalive, 0, 65535);
  }
}

/**
 * Checks that `spec` can be rendered and applied: weave's device name, keys, port, address, MTU, and
 * peers with distinct public keys and no allowed IP claimed twice. Throws WEAVE_BAD_REQUEST naming
 * the bad value (keys other than public ones are never quoted).
 */
export function validateWireguardSpec(spec: WireguardSpec): void {
  if (!isWeaveWireguardName(spec.name)) {
    throw bad(`Invalid WireGuard device name "${spec.name}": expected ${WIREGUARD_PREFIX} + 8 hex digits`);
  }
  checkKey("private key", spec.privateKey);
  checkInt("WireGuard port", spec.listenPort, 1, 65535);
  if (!spec.address.includes("/")) throw bad(`Invalid address "${spec.address}": expected ADDRESS/LENGTH`);
  normalizeInterfaceAddress(spec.address);
  checkMtu(spec.mtu);
  const keys = new Set<string>();
  const owners = new Map<string, string>();
  spec.peers.forEach((peer, i) => {
    validatePeer(peer, i);
    if (keys.has(peer.publicKey)) throw bad(`Peer public key ${peer.publicKey} is listed twice`);
    keys.add(peer.publicKey);
    for (const cidr of peer.allowedIps.map(normalizeAllowedIp)) {
      const other = owners.get(cidr);
      if (other !== undefined)
        throw bad(`Allowed IP "${cidr}" is claimed by peers ${other} and ${peer.publicKey}`);
      owners.set(cidr, peer.publicKey);
    }
  });
}

/**
 * The `wg syncconf` configuration of `spec` (which must be valid): [Interface] with the private key
 * and port, one [Peer] per peer. Holds secrets: never log it.
 */
export function renderWireguardConfig(spec: WireguardSpec): string {
  const lines = ["[Interface]", `PrivateKey = ${spec.privateKey}`, `ListenPort = ${spec.listenPort}`];
  for (const p of spec.peers) {
    lines.push("", "[Peer]", `PublicKey = ${p.publicKey}`, `PresharedKey = ${p.presharedKey}`);
    lines.push(`Endpoint = ${normalizeEndpoint(p.endpoint)}`);
    if (p.allowedIps.length > 0)
      lines.push(`AllowedIPs = ${p.allowedIps.map(normalizeAllowedIp).join(", ")}`);
    if (p.persistentKeepalive) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return lines.join("\n") + "\n";
}

/** One peer of `wg show NAME dump`. */
export interface DumpPeer {
  publicKey: string;
  /** Undefined when the peer has none. */
  presharedKey?: string;
  endpoint?: string;
  /** Canonical CIDRs. */
  allowedIps: string[];
  /** Seconds since the epoch; 0 when never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** 0 when off. */
  persistentKeepalive: number;
}

/** `wg show NAME dump`: the interface line, then one line per peer. */
export interface WireguardDump {
  /** Undefined when the device has none yet. */
  privateKey?: string;
  listenPort: number;
  peers: DumpPeer[];
}

const NONE = "(none)";
const optional = (field: string): string | undefined => (field === NONE ? undefined : field);

function count(field: string, line: number): number {
  if (field === "off") return 0;
  const n = Number(field);
  if (!/^\d+$/.test(field) || !Number.isSafeInteger(n)) {
    throw new WeaveError(
      "WEAVE_DATAPLANE",
      `Cannot parse "wg show dump" line ${line}: bad number "${field}"`,
    );
  }
  return n;
}

/** Parses `wg show NAME dump` (tab-separated). Throws WEAVE_DATAPLANE on a malformed line. */
export function parseWireguardDump(text: string): WireguardDump {
  const lines = text.split("\n").filter((l) => l !== "");
  const [head, ...rest] = lines.map((l) => l.split("\t"));
  if (head?.length !== 4)
    throw new WeaveError("WEAVE_DATAPLANE", `Cannot parse "wg show dump": bad interface line`);
  const privateKey = optional(head[0] ?? NONE);
  const peers = rest.map((f, i): DumpPeer => {
    if (f.length !== 8) throw new WeaveError("WEAVE_DATAPLANE", `Cannot parse "wg show dump" line ${i + 2}`);
    const [publicKey = "", psk = NONE, endpoint = NONE, ips = NONE, hs = "", rx = "", tx = "", ka = ""] = f;
    const presharedKey = optional(psk);
    const ep = optional(endpoint);
    return {
      publicKey,
      ...(presharedKey !== undefined ? { presharedKey } : {}),
      ...(ep !== undefined ? { endpoint: ep } : {}),
      allowedIps: ips === NONE ? [] : ips.split(",").map((c) => formatPrefix(parsePrefix(c))),
      latestHandshake: count(hs, i + 2),
      rxBytes: count(rx, i + 2),
      txBytes: count(tx, i + 2),
      persistentKeepalive: count(ka, i + 2),
    };
  });
  return { ...(privateKey !== undefined ? { privateKey } : {}), listenPort: count(head[2] ?? "", 1), peers };
}

/** The peers of a dump as the port reports them (handshake in ms since the epoch). */
export function peerStates(dump: WireguardDump): WireguardPeerState[] {
  return dump.peers.map((p) => ({
    publicKey: p.publicKey,
    latestHandshake: p.latestHandshake * 1000,
    rxBytes: p.rxBytes,
    txBytes: p.txBytes,
    ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
  }));
}
