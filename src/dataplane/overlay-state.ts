/**
 * The overlay's observed state after operations, computed without asking the kernel: what
 * `ip -json -details link show type vxlan`, `bridge -json fdb show` and `ip -json neigh show` would
 * print once the operations have run (as IprouteOverlay parses them). The cache of IprouteOverlay
 * and FakeOverlay (cached-state.ts) folds each applied plan in with it.
 */
import { FLOOD_MAC } from "./overlay-planner.js";
import type {
  ObservedFdb,
  ObservedNeigh,
  ObservedOverlay,
  ObservedVxlan,
  OverlayOp,
} from "./overlay-planner.js";

const fdbKey = (dev: string, mac: string, dst: string): string => `${dev} ${mac} ${dst}`;
const neighKey = (dev: string, ip: string): string => `${dev} ${ip}`;

/**
 * The observed overlay indexed by key, so that a change is folded in and a slice of it is read in
 * work proportional to the change (IprouteOverlay's and FakeOverlay's cache hold one and update it
 * in place). Entries are never changed in place: a changed entry is a new object.
 */
export interface OverlayModel {
  links: Map<string, ObservedVxlan>;
  /** By `dev mac dst`. */
  fdb: Map<string, ObservedFdb>;
  /** The keys of the remotes of each `dev mac`, in the kernel's order (the first is replaced). */
  remotes: Map<string, string[]>;
  /** By `dev ip`. */
  neigh: Map<string, ObservedNeigh>;
}

/** The model of an observed overlay (linear in its size). */
export function overlayModel(state: ObservedOverlay): OverlayModel {
  const m: OverlayModel = { links: new Map(), fdb: new Map(), remotes: new Map(), neigh: new Map() };
  for (const l of state.links) m.links.set(l.name, l);
  for (const e of state.fdb) addRemote(m, e);
  for (const e of state.neigh) m.neigh.set(neighKey(e.dev, e.ip), e);
  return m;
}

/** The observed overlay a model stands for (linear in its size). */
export function observedOf(m: OverlayModel): ObservedOverlay {
  return { links: [...m.links.values()], fdb: [...m.fdb.values()], neigh: [...m.neigh.values()] };
}

/** The FDB remotes of `mac` on `dev`, in the kernel's order. */
export function remotesOfMac(m: OverlayModel, dev: string, mac: string): ObservedFdb[] {
  const keys = m.remotes.get(`${dev} ${mac}`) ?? [];
  return keys.map((k) => m.fdb.get(k)).filter((e): e is ObservedFdb => e !== undefined);
}

/** The neighbour entry of `ip` on `dev`, if any. */
export function neighOf(m: OverlayModel, dev: string, ip: string): ObservedNeigh | undefined {
  return m.neigh.get(neighKey(dev, ip));
}

function addRemote(m: OverlayModel, e: ObservedFdb): void {
  const key = fdbKey(e.dev, e.mac, e.dst);
  if (!m.fdb.has(key)) {
    const mac = `${e.dev} ${e.mac}`;
    const list = m.remotes.get(mac);
    if (list) list.push(key);
    else m.remotes.set(mac, [key]);
  }
  m.fdb.set(key, e);
}

function deleteRemote(m: OverlayModel, dev: string, mac: string, dst: string): void {
  const key = fdbKey(dev, mac, dst);
  if (!m.fdb.delete(key)) return;
  const rest = (m.remotes.get(`${dev} ${mac}`) ?? []).filter((k) => k !== key);
  if (rest.length > 0) m.remotes.set(`${dev} ${mac}`, rest);
  else m.remotes.delete(`${dev} ${mac}`);
}

function deleteDevice(m: OverlayModel, name: string): void {
  m.links.delete(name);
  for (const e of [...m.fdb.values()]) if (e.dev === name) deleteRemote(m, e.dev, e.mac, e.dst);
  for (const [key, e] of m.neigh) if (e.dev === name) m.neigh.delete(key);
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
      const key = fdbKey(op.dev, op.mac, op.dst);
      const existing = m.fdb.get(key);
      if (existing) {
        if (!existing.permanent) m.fdb.set(key, { ...existing, permanent: true });
        return;
      }
      // replace: the MAC's first remote becomes `dst`; append (the flood MAC): one more remote.
      const first = op.mac === FLOOD_MAC ? undefined : m.remotes.get(`${op.dev} ${op.mac}`)?.[0];
      const old = first === undefined ? undefined : m.fdb.get(first);
      if (old) deleteRemote(m, old.dev, old.mac, old.dst);
      addRemote(m, { dev: op.dev, mac: op.mac, dst: op.dst, permanent: true });
      return;
    }
    case "del-neigh":
      m.neigh.delete(neighKey(op.dev, op.ip));
      return;
    case "set-neigh":
      m.neigh.set(neighKey(op.dev, op.ip), { dev: op.dev, ip: op.ip, mac: op.mac, permanent: true });
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
