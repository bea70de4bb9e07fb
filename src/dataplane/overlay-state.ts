/**
 * The overlay's observed state after operations, computed without asking the kernel: what
 * `ip -json -details link show type vxlan`, `bridge -json fdb show` and `ip -json neigh show` would
 * print once the operations have run (as IprouteOverlay parses them). The cache of IprouteOverlay
 * and FakeOverlay (cached-state.ts) folds each applied plan in with it.
 */
import { Interner } from "../core/index.js";
import { FLOOD_MAC } from "./overlay-planner.js";
import type {
  ObservedFdb,
  ObservedNeigh,
  ObservedOverlay,
  ObservedVxlan,
  OverlayOp,
} from "./overlay-planner.js";

/**
 * The observed overlay indexed by device, so that a change is folded in and a slice of it is read
 * in work proportional to the change (IprouteOverlay's and FakeOverlay's cache hold one and update
 * it in place). Entries are never changed in place: a changed entry is a new object.
 *
 * Memory: at 1,000 hosts the model holds 100,000 FDB and 100,000 neighbour entries. So entries are
 * found under their device by MAC or address (the entry's own string, no composite key strings),
 * and a MAC with one remote (all but the flood MAC) maps to its entry alone, not to a list. A model
 * built from the kernel's answer shares one string for each device, destination and MAC.
 */
export interface OverlayModel {
  links: Map<string, ObservedVxlan>;
  /** Device -> MAC -> its FDB remote, or its remotes in the kernel's order (the first is replaced). */
  fdb: Map<string, Map<string, ObservedFdb | ObservedFdb[]>>;
  /** Device -> address -> its neighbour entry. */
  neigh: Map<string, Map<string, ObservedNeigh>>;
}

/** The model of an observed overlay (linear in its size). */
export function overlayModel(state: ObservedOverlay): OverlayModel {
  const m: OverlayModel = { links: new Map(), fdb: new Map(), neigh: new Map() };
  const names = new Interner(Number.MAX_SAFE_INTEGER); // dropped with this call
  for (const l of state.links) m.links.set(l.name, l);
  for (const e of state.fdb) {
    const { dev, mac, dst } = e;
    addRemote(m, { ...e, dev: names.intern(dev), mac: names.intern(mac), dst: names.intern(dst) });
  }
  for (const e of state.neigh) {
    const { mac } = e;
    setNeigh(m, { ...e, dev: names.intern(e.dev), ...(mac !== undefined ? { mac: names.intern(mac) } : {}) });
  }
  return m;
}

/** The observed overlay a model stands for (linear in its size). */
export function observedOf(m: OverlayModel): ObservedOverlay {
  const fdb: ObservedFdb[] = [];
  for (const macs of m.fdb.values())
    for (const r of macs.values())
      if (Array.isArray(r)) fdb.push(...r);
      else fdb.push(r);
  const neigh: ObservedNeigh[] = [];
  for (const ips of m.neigh.values()) neigh.push(...ips.values());
  return { links: [...m.links.values()], fdb, neigh };
}

/** The FDB remotes of `mac` on `dev`, in the kernel's order. */
export function remotesOfMac(m: OverlayModel, dev: string, mac: string): ObservedFdb[] {
  const r = m.fdb.get(dev)?.get(mac);
  return r === undefined ? [] : Array.isArray(r) ? [...r] : [r];
}

/** The neighbour entry of `ip` on `dev`, if any. */
export function neighOf(m: OverlayModel, dev: string, ip: string): ObservedNeigh | undefined {
  return m.neigh.get(dev)?.get(ip);
}

/** Adds `e` after the MAC's other remotes, or in place of the one with its `dst`. */
function addRemote(m: OverlayModel, e: ObservedFdb): void {
  let macs = m.fdb.get(e.dev);
  if (!macs) m.fdb.set(e.dev, (macs = new Map<string, ObservedFdb | ObservedFdb[]>()));
  const had = macs.get(e.mac);
  if (had === undefined) macs.set(e.mac, e);
  else if (Array.isArray(had)) {
    const at = had.findIndex((r) => r.dst === e.dst);
    if (at >= 0) had[at] = e;
    else had.push(e);
  } else macs.set(e.mac, had.dst === e.dst ? e : [had, e]);
}

function deleteRemote(m: OverlayModel, dev: string, mac: string, dst: string): void {
  const macs = m.fdb.get(dev);
  const had = macs?.get(mac);
  if (!macs || had === undefined) return;
  if (!Array.isArray(had)) {
    if (had.dst === dst) macs.delete(mac);
  } else {
    const rest = had.filter((r) => r.dst !== dst);
    if (rest.length === 0) macs.delete(mac);
    else macs.set(mac, rest.length === 1 ? (rest[0] as ObservedFdb) : rest);
  }
  if (macs.size === 0) m.fdb.delete(dev);
}

function fdbEntry(m: OverlayModel, dev: string, mac: string, dst: string): ObservedFdb | undefined {
  const had = m.fdb.get(dev)?.get(mac);
  if (had === undefined) return undefined;
  return Array.isArray(had) ? had.find((r) => r.dst === dst) : had.dst === dst ? had : undefined;
}

function setNeigh(m: OverlayModel, e: ObservedNeigh): void {
  let ips = m.neigh.get(e.dev);
  if (!ips) m.neigh.set(e.dev, (ips = new Map<string, ObservedNeigh>()));
  ips.set(e.ip, e);
}

function deleteNeigh(m: OverlayModel, dev: string, ip: string): void {
  const ips = m.neigh.get(dev);
  if (!ips?.delete(ip)) return;
  if (ips.size === 0) m.neigh.delete(dev);
}

function deleteDevice(m: OverlayModel, name: string): void {
  m.links.delete(name);
  m.fdb.delete(name);
  m.neigh.delete(name);
}

/** Applies one operation as the kernel does (see FakeOverlay, which models the same). */
function applyOp(m: OverlayModel, op: OverlayOp): void {
  switch (op.op) {
    case "delete-vxlan":
      return deleteDevice(m, op.name);
    case "create-vxlan": {
      const { name, vni, port, local, mtu, bridge } = op.spec;
      m.links.set(name, {
        name,
        vni,
        port,
        local,
        learning: false,
        proxy: true,
        mtu,
        up: true,
        master: bridge,
      });
      return;
    }
    case "fix-vxlan": {
      const link = m.links.get(op.name);
      if (!link) return;
      m.links.set(op.name, {
        ...link,
        up: true,
        ...(op.nolearning ? { learning: false } : {}),
        ...(op.mtu !== undefined ? { mtu: op.mtu } : {}),
        ...(op.master !== undefined ? { master: op.master } : {}),
      });
      return;
    }
    case "del-fdb":
      return deleteRemote(m, op.dev, op.mac, op.dst);
    case "add-fdb": {
      const existing = fdbEntry(m, op.dev, op.mac, op.dst);
      if (existing) {
        if (!existing.permanent) addRemote(m, { ...existing, permanent: true });
        return;
      }
      // replace: the MAC's first remote becomes `dst`; append (the flood MAC): one more remote.
      const first = op.mac === FLOOD_MAC ? undefined : remotesOfMac(m, op.dev, op.mac)[0];
      if (first) deleteRemote(m, first.dev, first.mac, first.dst);
      addRemote(m, { dev: op.dev, mac: op.mac, dst: op.dst, permanent: true });
      return;
    }
    case "del-neigh":
      deleteNeigh(m, op.dev, op.ip);
      return;
    case "set-neigh":
      setNeigh(m, { dev: op.dev, ip: op.ip, mac: op.mac, permanent: true });
      return;
  }
}

/**
 * Applies `ops` (a plan that was applied without error) to the model, in place, as the kernel ran
 * them: work proportional to the operations (a device delete: to the model). Returns the model.
 */
export function applyOverlayOps(m: OverlayModel, ops: readonly OverlayOp[]): OverlayModel {
  for (const op of ops) applyOp(m, op);
  return m;
}

/**
 * The observed overlay once `ops` (a plan that was applied without error) have run on the kernel
 * that `state` describes. Pure: `state` is not changed. Linear in the size of the state plus ops.
 */
export function foldOverlayOps(state: ObservedOverlay, ops: readonly OverlayOp[]): ObservedOverlay {
  return observedOf(applyOverlayOps(overlayModel(state), ops));
}
