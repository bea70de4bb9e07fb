/**
 * The overlay planner: pure functions from (desired overlay networks, observed VXLAN devices, FDB and
 * neighbour entries) to an ordered list of operations, and from operations to `ip -batch` and
 * `bridge -batch` lines.
 *
 * Design note: the order is device deletes (orphans, and devices whose VNI/port/local/proxy differ,
 * which the kernel cannot change in place), device creates and fixes, FDB deletes then adds, neighbour
 * deletes then sets. Deletes come first so that a MAC moving to another peer ends with exactly one
 * remote. Only `vxw<digits>` devices of kind vxlan, and on them only the VXLAN's own FDB entries (the
 * ones with a `dst`), are managed: bridge-side and local entries, and every other link, are left alone.
 */
import { isMacAddress } from "../core/index.js";
import { vxlanName, VXLAN_PREFIX } from "./overlay-types.js";
import type { OverlayNetwork, OverlaySlice, VxlanSpec } from "./overlay-types.js";
import { normalizeCidr } from "./planner.js";
import { bad, checkInt, checkInterfaceName, checkIp, checkMtu } from "./spec-checks.js";

/** A VXLAN link as read from `ip -json -details link show type vxlan`. */
export interface ObservedVxlan {
  name: string;
  /** `linkinfo.info_data.id`, `.port`, `.local` (undefined when unset), `.learning`, `.proxy`. */
  vni: number;
  port: number;
  local: string | undefined;
  learning: boolean;
  proxy: boolean;
  mtu: number;
  master?: string;
  up: boolean;
}

/** A VXLAN FDB entry (one remote) from `bridge -json fdb show`: only entries with a `dst`. */
export interface ObservedFdb {
  dev: string;
  /** Lower case; `00:00:00:00:00:00` for a flood (head-end replication) entry. */
  mac: string;
  dst: string;
  permanent: boolean;
}

/** A neighbour entry on a VXLAN device from `ip -json neigh show`. */
export interface ObservedNeigh {
  dev: string;
  /** Canonical text (IPv6 compressed, lower case). */
  ip: string;
  mac?: string;
  permanent: boolean;
}

export interface ObservedOverlay {
  links: ObservedVxlan[];
  fdb: ObservedFdb[];
  neigh: ObservedNeigh[];
}

export type OverlayOp =
  | { op: "delete-vxlan"; name: string }
  | { op: "create-vxlan"; spec: VxlanSpec }
  | { op: "fix-vxlan"; name: string; mtu?: number; master?: string; nolearning: boolean; setUp: boolean }
  | { op: "del-fdb"; dev: string; mac: string; dst: string }
  /** `replace` for a container MAC, `append` for the all-zero flood MAC (one entry per peer). */
  | { op: "add-fdb"; dev: string; mac: string; dst: string }
  | { op: "del-neigh"; dev: string; ip: string }
  | { op: "set-neigh"; dev: string; ip: string; mac: string };

export const FLOOD_MAC = "00:00:00:00:00:00";
const OWNED = new RegExp(`^${VXLAN_PREFIX}[1-9][0-9]{0,7}$`);

/** True for the names of VXLAN devices weave owns: `vxw` + decimal VNI. */
export function isWeaveVxlanName(name: string): boolean {
  return OWNED.test(name);
}

function checkUnicastMac(mac: string): void {
  // Group bit set or all zero would collide with the flood entries (or make no sense as a container).
  if (!isMacAddress(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === FLOOD_MAC) {
    throw bad(`Invalid MAC "${mac}": expected a unicast address such as 02:42:0a:20:00:02`);
  }
}

/**
 * Checks that desired overlay networks can be rendered safely: name = vxlanName(vni), VNI, port,
 * IPv4 underlay addresses, MTU, bridge name, endpoint MACs and IPs, and no VNI, MAC or IP twice.
 * Throws WEAVE_BAD_REQUEST naming the bad value.
 */
export function validateOverlay(desired: readonly OverlayNetwork[]): void {
  const vnis = new Set<number>();
  for (const { spec, floodPeers, endpoints } of desired) {
    checkInt("VNI", spec.vni, 1, 16777215);
    if (spec.name !== vxlanName(spec.vni)) {
      throw bad(
        `Invalid VXLAN device name "${spec.name}" for VNI ${spec.vni}: expected "${vxlanName(spec.vni)}"`,
      );
    }
    if (vnis.has(spec.vni)) throw bad(`VNI ${spec.vni} is desired twice`);
    vnis.add(spec.vni);
    checkInt("UDP port", spec.port, 1, 65535);
    checkMtu(spec.mtu);
    // IPv4 on the underlay; IPv6 between tunnel addresses inside WireGuard. Peers share the local's family.
    const family = spec.local.includes(":") ? 6 : 4;
    checkIp("local underlay address", spec.local, family);
    checkInterfaceName(spec.bridge, "bridge name");
    for (const peer of floodPeers) checkIp("flood peer", peer, family);
    const seen = new Set<string>();
    for (const ep of endpoints) {
      checkUnicastMac(ep.mac);
      checkIp("peer", ep.peer, family);
      if (ep.ipv4 !== undefined) checkIp("endpoint address", ep.ipv4, 4);
      if (ep.ipv6 !== undefined) checkIp("endpoint address", ep.ipv6, 6);
      const keys = [ep.mac.toLowerCase(), ep.ipv4, ep.ipv6 && normalizeCidr(ep.ipv6)];
      for (const key of keys) {
        if (key === undefined) continue;
        if (seen.has(key)) throw bad(`Endpoint "${key}" appears twice on ${spec.name}`);
        seen.add(key);
      }
    }
  }
}

/** The FDB remotes (`mac dst` -> entry) and neighbours (ip -> mac) a device should hold. */
export interface WantedEntries {
  fdb: Map<string, ObservedFdb>;
  neigh: Map<string, string>;
}

/**
 * The entries a network's device should hold; with `only`, just those of its MACs and addresses
 * (and the flood entries when `only.flood`).
 */
export function wantedEntries(net: OverlayNetwork, only?: OverlaySlice): WantedEntries {
  const dev = net.spec.name;
  const fdb = new Map<string, ObservedFdb>();
  const neigh = new Map<string, string>();
  const addFdb = (mac: string, dst: string): void => {
    fdb.set(`${mac} ${dst}`, { dev, mac, dst, permanent: true });
  };
  if (!only || only.flood) for (const peer of net.floodPeers) addFdb(FLOOD_MAC, normalizeCidr(peer));
  for (const ep of net.endpoints) {
    const mac = ep.mac.toLowerCase();
    if (!only || only.macs.has(mac)) addFdb(mac, normalizeCidr(ep.peer));
    const v6 = ep.ipv6 === undefined ? undefined : normalizeCidr(ep.ipv6);
    for (const ip of [ep.ipv4, v6]) if (ip !== undefined && (!only || only.ips.has(ip))) neigh.set(ip, mac);
  }
  return { fdb, neigh };
}

/**
 * Appends to `out` the operations that make a device's entries `have` exactly `want`: non-permanent
 * or unwanted entries go, missing or different ones come.
 */
export function diffEntries(
  dev: string,
  want: WantedEntries,
  have: { fdb: readonly ObservedFdb[]; neigh: readonly ObservedNeigh[] },
  out: EntryOps,
): void {
  const keptFdb = new Set<string>();
  for (const e of have.fdb) {
    const key = `${e.mac} ${e.dst}`;
    if (want.fdb.has(key) && e.permanent) keptFdb.add(key);
    else out.fdbDel.push({ op: "del-fdb", dev, mac: e.mac, dst: e.dst });
  }
  for (const [key, e] of want.fdb) {
    if (!keptFdb.has(key)) out.fdbAdd.push({ op: "add-fdb", dev, mac: e.mac, dst: e.dst });
  }
  const keptNeigh = new Set<string>();
  for (const e of have.neigh) {
    const mac = want.neigh.get(e.ip);
    if (mac === undefined) out.neighDel.push({ op: "del-neigh", dev, ip: e.ip });
    else if (mac === e.mac && e.permanent) keptNeigh.add(e.ip);
  }
  for (const [ip, mac] of want.neigh) {
    if (!keptNeigh.has(ip)) out.neighSet.push({ op: "set-neigh", dev, ip, mac });
  }
}

/** The entry operations of a plan by kind, in the order they run. */
export interface EntryOps {
  fdbDel: OverlayOp[];
  fdbAdd: OverlayOp[];
  neighDel: OverlayOp[];
  neighSet: OverlayOp[];
}

export const noEntryOps = (): EntryOps => ({ fdbDel: [], fdbAdd: [], neighDel: [], neighSet: [] });

/** The entry operations in the order they run: deletes first, so a moved MAC ends with one remote. */
export const entryOpsInOrder = (o: EntryOps): OverlayOp[] => [
  ...o.fdbDel,
  ...o.fdbAdd,
  ...o.neighDel,
  ...o.neighSet,
];

/** True when the device must be deleted and created again (attributes the kernel cannot change). */
function needsRecreate(spec: VxlanSpec, link: ObservedVxlan): boolean {
  const local = link.local === undefined ? undefined : normalizeCidr(link.local);
  return (
    link.vni !== spec.vni || link.port !== spec.port || local !== normalizeCidr(spec.local) || !link.proxy
  );
}

/**
 * The plan that makes the kernel's weave VXLAN devices and their entries exactly `desired` (assumed
 * valid, see validateOverlay). Foreign links and entries are never touched. Throws nothing.
 */
export function planOverlay(desired: readonly OverlayNetwork[], observed: ObservedOverlay): OverlayOp[] {
  const byName = new Map(observed.links.filter((l) => isWeaveVxlanName(l.name)).map((l) => [l.name, l]));
  const wanted = new Set(desired.map((n) => n.spec.name));
  const fdbOf = byDev(observed.fdb);
  const neighOf = byDev(observed.neigh);
  const deletes: OverlayOp[] = [];
  const links: OverlayOp[] = [];
  const entries = noEntryOps();
  for (const name of byName.keys()) if (!wanted.has(name)) deletes.push({ op: "delete-vxlan", name });

  for (const net of desired) {
    const { spec } = net;
    const link = byName.get(spec.name);
    const fresh = link === undefined || needsRecreate(spec, link);
    if (fresh) {
      if (link) deletes.push({ op: "delete-vxlan", name: spec.name });
      links.push({ op: "create-vxlan", spec });
    } else {
      const mtuWrong = link.mtu !== spec.mtu;
      const masterWrong = link.master !== spec.bridge;
      if (mtuWrong || masterWrong || link.learning || !link.up) {
        links.push({
          op: "fix-vxlan",
          name: spec.name,
          ...(mtuWrong ? { mtu: spec.mtu } : {}),
          ...(masterWrong ? { master: spec.bridge } : {}),
          nolearning: link.learning,
          setUp: !link.up,
        });
      }
    }
    const dev = spec.name;
    const have = fresh
      ? { fdb: [], neigh: [] }
      : { fdb: fdbOf.get(dev) ?? [], neigh: neighOf.get(dev) ?? [] };
    diffEntries(dev, wantedEntries(net), have, entries);
  }
  return [...deletes, ...links, ...entryOpsInOrder(entries)];
}

/** Items grouped by their device. */
function byDev<T extends { dev: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(item.dev);
    if (list) list.push(item);
    else out.set(item.dev, [item]);
  }
  return out;
}

/**
 * Checks `desired` now (validateOverlay: WEAVE_BAD_REQUEST before anything is run) and returns the
 * plan to run against the overlay as observed later (planOverlay).
 */
export function overlayPlan(desired: readonly OverlayNetwork[]): (observed: ObservedOverlay) => OverlayOp[] {
  validateOverlay(desired);
  return (observed) => planOverlay(desired, observed);
}

/** Which batch tool carries out an operation: `ip -batch -` or `bridge -batch -`. */
export function overlayOpTool(op: OverlayOp): "ip" | "bridge" {
  return op.op === "add-fdb" || op.op === "del-fdb" ? "bridge" : "ip";
}

/** The batch lines (without the leading `ip`/`bridge`, see overlayOpTool) of one operation, in order. */
export function renderOverlayOp(op: OverlayOp): string[] {
  switch (op.op) {
    case "delete-vxlan":
      return [`link del ${op.name}`];
    case "create-vxlan": {
      const { name, vni, port, local, mtu, bridge } = op.spec;
      return [
        `link add ${name} mtu ${mtu} type vxlan id ${vni} local ${local} dstport ${port} nolearning proxy`,
        `link set ${name} master ${bridge} up`,
      ];
    }
    case "fix-vxlan": {
      const lines = op.nolearning ? [`link set ${op.name} type vxlan nolearning`] : [];
      const set = [
        ...(op.mtu !== undefined ? [`mtu ${op.mtu}`] : []),
        ...(op.master !== undefined ? [`master ${op.master}`] : []),
        ...(op.setUp ? ["up"] : []),
      ];
      if (set.length > 0) lines.push(`link set ${op.name} ${set.join(" ")}`);
      return lines;
    }
    case "del-fdb":
      return [`fdb del ${op.mac} dev ${op.dev} dst ${op.dst} self`];
    case "add-fdb": {
      const verb = op.mac === FLOOD_MAC ? "append" : "replace";
      return [`fdb ${verb} ${op.mac} dev ${op.dev} dst ${op.dst} self permanent`];
    }
    case "del-neigh":
      return [`neigh del ${op.ip} dev ${op.dev}`];
    case "set-neigh":
      return [`neigh replace ${op.ip} lladdr ${op.mac} dev ${op.dev} nud permanent`];
  }
}

const OP_WORDS: Readonly<Record<OverlayOp["op"], string>> = {
  "delete-vxlan": "delete vxlan",
  "create-vxlan": "create vxlan",
  "fix-vxlan": "fix vxlan",
  "del-fdb": "delete fdb",
  "add-fdb": "add fdb",
  "del-neigh": "delete neighbour",
  "set-neigh": "set neighbour",
};

/** What an operation is about: the device, or the entry and its device. */
function opObject(op: OverlayOp): string {
  switch (op.op) {
    case "create-vxlan":
      return op.spec.name;
    case "delete-vxlan":
    case "fix-vxlan":
      return op.name;
    case "del-fdb":
    case "add-fdb":
      return `${op.mac} dst ${op.dst} on ${op.dev}`;
    case "del-neigh":
      return `${op.ip} on ${op.dev}`;
    case "set-neigh":
      return `${op.ip} lladdr ${op.mac} on ${op.dev}`;
  }
}

/** Short human-readable description of an operation, e.g. `create vxlan vxw4096`. */
export function describeOverlayOp(op: OverlayOp): string {
  return `${OP_WORDS[op.op]} ${opObject(op)}`;
}
