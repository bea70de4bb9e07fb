/**
 * The WireGuard planner: pure functions from (desired device, observed devices and configuration) to
 * an ordered list of operations, and from operations to the command lines that carry them out.
 *
 * Design note: the order is device deletes (other weave devices; a wireguard-go device whose process
 * no longer answers), the device create, configuration changes, address deletes then adds, and the
 * link's MTU and up state. The configuration operations (key, port, peers) are carried out together
 * by one `wg syncconf` of the whole desired configuration, which changes only what differs: peers
 * that did not change keep their sessions. They are separate operations so the report says what changed.
 */
import { WeaveError } from "../core/index.js";
import {
  clampPrivateKey,
  isWeaveWireguardName,
  normalizeAllowedIp,
  normalizeEndpoint,
  normalizeInterfaceAddress,
  validateWireguardSpec,
} from "./wireguard-config.js";
import type { DumpPeer, WireguardDump } from "./wireguard-config.js";
import type { WireguardPeerSpec, WireguardSpec } from "./wireguard-types.js";

/** A weave WireGuard link as read from `ip -details -json link show`. */
export interface ObservedWireguardLink {
  name: string;
  /** `linkinfo.info_kind`: "wireguard" (kernel), "tun" (wireguard-go), or another kind. */
  kind: string;
  mtu: number;
  up: boolean;
}

export interface ObservedWireguard {
  /** Every link with a weave WireGuard name. */
  links: ObservedWireguardLink[];
  /** `wg show NAME dump` of the desired device; undefined when it is missing or does not answer. */
  dump?: WireguardDump;
  /** The desired device's addresses other than link-local ones, canonical (normalizeInterfaceAddress). */
  addresses: string[];
}

export type WireguardOp =
  | { op: "delete-device"; name: string; kind: string }
  | { op: "create-device"; name: string }
  | { op: "set-private-key"; name: string }
  | { op: "set-listen-port"; name: string; port: number }
  | { op: "add-peer"; name: string; publicKey: string }
  | { op: "update-peer"; name: string; publicKey: string; changes: string[] }
  | { op: "remove-peer"; name: string; publicKey: string }
  | { op: "del-address"; name: string; address: string }
  | { op: "add-address"; name: string; address: string }
  | { op: "set-link"; name: string; mtu: number };

/** The operations carried out by `wg syncconf`. */
export type WireguardConfigOp = Extract<
  WireguardOp,
  { op: "set-private-key" | "set-listen-port" | "add-peer" | "update-peer" | "remove-peer" }
>;

/** True for an operation carried out by `wg syncconf`. */
export function isWireguardConfigOp(op: WireguardOp): op is WireguardConfigOp {
  return ["set-private-key", "set-listen-port", "add-peer", "update-peer", "remove-peer"].includes(op.op);
}

/** What differs between a desired peer and the device's: "preshared key", "endpoint", ... */
function peerChanges(want: WireguardPeerSpec, have: DumpPeer): string[] {
  const changes: string[] = [];
  if (have.presharedKey !== want.presharedKey) changes.push("preshared key");
  if (have.endpoint !== normalizeEndpoint(want.endpoint)) changes.push("endpoint");
  const ips = (list: readonly string[]): string => [...list].sort().join(",");
  if (ips(have.allowedIps) !== ips(want.allowedIps.map(normalizeAllowedIp))) changes.push("allowed IPs");
  if (have.persistentKeepalive !== (want.persistentKeepalive ?? 0)) changes.push("persistent keepalive");
  return changes;
}

function configOps(spec: WireguardSpec, dump: WireguardDump): WireguardOp[] {
  const name = spec.name;
  const ops: WireguardOp[] = [];
  // The device reports the key clamped; so compare clamped keys.
  const key = clampPrivateKey(spec.privateKey);
  if (dump.privateKey === undefined || clampPrivateKey(dump.privateKey) !== key) {
    ops.push({ op: "set-private-key", name });
  }
  if (dump.listenPort !== spec.listenPort) ops.push({ op: "set-listen-port", name, port: spec.listenPort });
  const have = new Map(dump.peers.map((p) => [p.publicKey, p]));
  const want = new Set(spec.peers.map((p) => p.publicKey));
  for (const p of dump.peers) {
    if (!want.has(p.publicKey)) ops.push({ op: "remove-peer", name, publicKey: p.publicKey });
  }
  for (const p of spec.peers) {
    const old = have.get(p.publicKey);
    if (old === undefined) ops.push({ op: "add-peer", name, publicKey: p.publicKey });
    else {
      const changes = peerChanges(p, old);
      if (changes.length > 0) ops.push({ op: "update-peer", name, publicKey: p.publicKey, changes });
    }
  }
  return ops;
}

function planDevice(spec: WireguardSpec, observed: ObservedWireguard): WireguardOp[] {
  const name = spec.name;
  const link = observed.links.find((l) => l.name === name);
  if (link && link.kind !== "wireguard" && link.kind !== "tun") {
    throw new WeaveError(
      "WEAVE_DATAPLANE",
      `Device "${name}" exists and is not a WireGuard device (kind "${link.kind || "none"}")`,
    );
  }
  const ops: WireguardOp[] = [];
  // A device that does not answer (its wireguard-go died or hangs) is made anew.
  const current =
    link && observed.dump ? { link, dump: observed.dump, addresses: observed.addresses } : undefined;
  if (link && !current) ops.push({ op: "delete-device", name, kind: link.kind });
  if (!current) ops.push({ op: "create-device", name });
  ops.push(...configOps(spec, current?.dump ?? { listenPort: 0, peers: [] }));
  const address = normalizeInterfaceAddress(spec.address);
  const addresses = current?.addresses ?? [];
  for (const a of addresses) if (a !== address) ops.push({ op: "del-address", name, address: a });
  if (!addresses.includes(address)) ops.push({ op: "add-address", name, address });
  if (!current || current.link.mtu !== spec.mtu || !current.link.up) {
    ops.push({ op: "set-link", name, mtu: spec.mtu });
  }
  return ops;
}

/**
 * Checks `spec` at once (WEAVE_BAD_REQUEST, see validateWireguardSpec) and returns the planner for
 * it: observed state -> operations. With `spec` undefined, every weave WireGuard device is deleted.
 * The planner throws WEAVE_DATAPLANE when the device's name is taken by another kind of link.
 */
export function wireguardPlan(
  spec: WireguardSpec | undefined,
): (observed: ObservedWireguard) => WireguardOp[] {
  if (spec) validateWireguardSpec(spec);
  return (observed) => {
    const others = observed.links.filter((l) => isWeaveWireguardName(l.name) && l.name !== spec?.name);
    const deletes = others.map((l): WireguardOp => ({ op: "delete-device", name: l.name, kind: l.kind }));
    return spec ? [...deletes, ...planDevice(spec, observed)] : deletes;
  };
}

/** A human-readable line for an operation (no secrets: public keys only). */
export function describeWireguardOp(op: WireguardOp): string {
  switch (op.op) {
    case "delete-device":
      return `delete WireGuard device ${op.name}`;
    case "create-device":
      return `create WireGuard device ${op.name}`;
    case "set-private-key":
      return `set the private key of ${op.name}`;
    case "set-listen-port":
      return `set the listen port of ${op.name} to ${op.port}`;
    case "add-peer":
      return `add peer ${op.publicKey} to ${op.name}`;
    case "update-peer":
      return `update peer ${op.publicKey} on ${op.name} (${op.changes.join(", ")})`;
    case "remove-peer":
      return `remove peer ${op.publicKey} from ${op.name}`;
    case "del-address":
      return `delete address ${op.address} from ${op.name}`;
    case "add-address":
      return `add address ${op.address} to ${op.name}`;
    case "set-link":
      return `set ${op.name} mtu ${op.mtu} up`;
  }
}

/**
 * The argv of `wg syncconf NAME /dev/stdin` with the configuration on stdin. Through a shell pipe:
 * Node gives a child a socket as stdin, which `wg` cannot open as /dev/stdin (ENXIO); `cat |` turns
 * it into a pipe. The configuration holds secrets, so it goes through no file and no argument.
 */
export const syncconfArgv = (name: string): string[] => [
  "sh",
  "-c",
  'cat | wg syncconf "$1" /dev/stdin',
  "sh",
  name,
];

/** The argv that carries out an operation other than create-device (whose command depends on the
 * implementation); config operations all map to the same syncconfArgv. */
export function wireguardOpArgv(op: Exclude<WireguardOp, { op: "create-device" }>): string[] {
  if (isWireguardConfigOp(op)) return syncconfArgv(op.name);
  switch (op.op) {
    case "delete-device":
      return ["ip", "link", "del", op.name];
    case "del-address":
      return ["ip", "address", "del", op.address, "dev", op.name];
    case "add-address":
      return ["ip", "address", "replace", op.address, "dev", op.name, "nodad"];
    case "set-link":
      return ["ip", "link", "set", op.name, "mtu", String(op.mtu), "up"];
  }
}

/** The argv that makes a kernel WireGuard device. */
export const kernelCreateArgv = (name: string): string[] => ["ip", "link", "add", name, "type", "wireguard"];

/** The argv that starts wireguard-go for `name` in its own session; it returns once the tun device
 * and the control socket exist (wireguard-go then runs on as a daemon, stdio on /dev/null). */
export const wireguardGoArgv = (name: string): string[] => [
  "setsid",
  "--fork",
  "--wait",
  "wireguard-go",
  name,
];
