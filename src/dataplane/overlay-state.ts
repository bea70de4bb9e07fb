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
 * The state's entries by key. Entries are never changed in place (the state folded from is not
 * changed): a changed entry is a new object.
 */
interface Model {
  links: Map<string, ObservedVxlan>;
  fdb: Map<string, ObservedFdb>;
  /** The keys of the remotes of each `dev mac`, in the kernel's order (the first is replaced);
   * built the first time a replace needs it (rare: plans delete a moved MAC's remote first). */
  remotes: Map<string, string[]> | undefined;
  neigh: Map<string, ObservedNeigh>;
}

function modelOf(state: ObservedOverlay): Model {
  return {
    links: new Map(state.links.map((l) => [l.name, l])),
    fdb: new Map(state.fdb.map((e) => [fdbKey(e.dev, e.mac, e.dst), e])),
    remotes: undefined,
    neigh: new Map(state.neigh.map((e) => [neighKey(e.dev, e.ip), e])),
  };
}

function remotesOf(m: Model): Map<string, string[]> {
  if (m.remotes) return m.remotes;
  const remotes = new Map<string, string[]>();
  for (const [key, e] of m.fdb) {
    const mac = `${e.dev} ${e.mac}`;
    const list = remotes.get(mac);
    if (list) list.push(key);
    else remotes.set(mac, [key]);
  }
  m.remotes = remotes;
  return remotes;
}

function addRemote(m: Model, e: ObservedFdb): void {
  const key = fdbKey(e.dev, e.mac, e.dst);
  if (!m.fdb.has(key) && m.remotes) {
    const mac = `${e.dev} ${e.mac}`;
    m.remotes.set(mac, [...(m.remotes.get(mac) ?? []), key]);
  }
  m.fdb.set(key, e);
}

function deleteRemote(m: Model, dev: string, mac: string, dst: string): void {
  const key = fdbKey(dev, mac, dst);
  if (!m.fdb.delete(key) || !m.remotes) return;
  const rest = (m.remotes.get(`${dev} ${mac}`) ?? []).filter((k) => k !== key);
  if (rest.length > 0) m.remotes.set(`${dev} ${mac}`, rest);
  else m.remotes.delete(`${dev} ${mac}`);
}

function deleteDevice(m: Model, name: string): void {
  m.links.delete(name);
  for (const e of [...m.fdb.values()]) if (e.dev === name) deleteRemote(m, e.dev, e.mac, e.dst);
  for (const [key, e] of m.neigh) if (e.dev === name) m.neigh.delete(key);
}

/** Applies one operation as the kernel does (see FakeOverlay, which models the same). */
function applyOp(m: Model, op: OverlayOp): void {
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
      const first = op.mac === FLOOD_MAC ? undefined : remotesOf(m).get(`${op.dev} ${op.mac}`)?.[0];
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
 * The observed overlay once `ops` (a plan that was applied without error) have run on the kernel
 * that `state` describes. Pure: `state` is not changed. Linear in the size of the state plus ops.
 */
export function foldOverlayOps(state: ObservedOverlay, ops: readonly OverlayOp[]): ObservedOverlay {
  const m = modelOf(state);
  for (const op of ops) applyOp(m, op);
  return { links: [...m.links.values()], fdb: [...m.fdb.values()], neigh: [...m.neigh.values()] };
}
