/**
 * The weaveDNS zone: pure, in-memory authoritative data for one domain (default `weave.local.`).
 *
 * Records are grouped by an owner key (a container ID, `weave:expose`, ...), so registration
 * replaces everything one container owns in one atomic `set` and forgets it with `remove`.
 * Several owners may register the same name: the answer is the union of their addresses, shuffled
 * per reply (weaveDNS's round-robin). `version` increases on every change; responders use it to
 * drop cached encodings, and worker replicas follow it through `ZoneChange`s.
 *
 * Name rules (documented choices):
 * - A registered name ending in "." is absolute and must lie inside the domain. Without the dot,
 *   a name that ends with the domain is taken as is, any other name is relative to the domain
 *   (`"db"` and `"web.prod"` become `db.weave.local.` and `web.prod.weave.local.`; so bare
 *   Docker aliases are registered, unlike weaveDNS which dropped them).
 * - Labels are 1–63 characters of `[A-Za-z0-9_-]`; names are matched case-insensitively.
 * - A single-label query (`db.`) is answered with `db.<domain>`'s records, under the name as asked
 *   (`db. A 10.32.0.5`); when `db.<domain>` does not exist the query is not ours and is forwarded.
 * - PTR: full in-addr.arpa / ip6.arpa names of registered addresses are answered; other reverse
 *   names are forwarded, like weaveDNS.
 *
 * Views (isolation of names, like packets): every entry has a `scope`, the name of the weave
 * network it belongs to, or "" for every network (records added by hand without `--net`). A
 * question is answered through a `ZoneView`: the set of networks whose names the asker may see.
 * `viewFor(source, local)` picks it: a container's address (from its own entries, `member` ones)
 * sees the union of the networks that container is on, wherever the question arrives; the host
 * itself (a source that is one of its gateway addresses, or loopback) sees everything; any other source (a
 * container on Docker's bridge) sees the network whose gateway it asked at (`setGateways`), and
 * elsewhere (the `--nameserver` address) everything. Names, reverse names and
 * the empty non-terminals of other networks do not exist for a view: NXDOMAIN, never their data.
 */
import { WeaveError } from "../core/index.js";
import { CLASS_ANY, CLASS_IN, RRType } from "./codec.js";
import type { ResourceRecord } from "./encoder.js";
import { addressFromReverseName, canonicalIp, parseIpv4, parseIpv6 } from "./ip.js";

/** Names and addresses to register for one owner. */
export interface ZoneEntry {
  name: string;
  ipv4?: readonly string[] | undefined;
  ipv6?: readonly string[] | undefined;
  /** The network whose containers see this name; "" or absent: every network. */
  scope?: string | undefined;
  /**
   * True when the addresses are the owner's own on `scope` (a container's automatic names): a
   * question from one of them is answered through the owner's networks. Records added by hand
   * are not members.
   */
  member?: boolean | undefined;
}

/** A validated entry: absolute lower-case name, canonical deduplicated addresses. */
export interface NormalizedEntry {
  name: string;
  ipv4: string[];
  ipv6: string[];
  /** Present only when not "" (every network). */
  scope?: string;
  /** Present only when true. */
  member?: true;
}

/** One change, as broadcast to replicas (`version` is the zone version after it). */
export type ZoneChange =
  | { op: "set"; owner: string; entries: NormalizedEntry[]; version: number }
  | { op: "remove"; owner: string; version: number }
  | { op: "gateways"; gateways: [string, string][]; version: number };

/** Everything in a zone, JSON-serialisable (for starting a replica). */
export interface ZoneSnapshot {
  version: number;
  owners: [string, NormalizedEntry[]][];
  gateways?: [string, string][];
}

/**
 * The networks whose names a question may see: `scopes` undefined sees every network (the host's
 * view). Interned by the zone, so `id` identifies the set (responders key caches by it).
 */
export interface ZoneView {
  readonly id: number;
  readonly scopes: ReadonlySet<string> | undefined;
}

/** The host's view: every name of every network. */
export const ALL_NETWORKS: ZoneView = { id: 0, scopes: undefined };

const sees = (view: ZoneView, scope: string | undefined): boolean =>
  scope === undefined || view.scopes === undefined || view.scopes.has(scope);

/** What the zone says about a question. `notauth`: not ours, forward it. */
export type ZoneResult =
  | { kind: "answer"; answers: ResourceRecord[]; authority: ResourceRecord[] }
  | { kind: "nxdomain"; authority: ResourceRecord[] }
  | { kind: "nodata"; authority: ResourceRecord[] }
  | { kind: "refused" }
  | { kind: "notauth" };

/** Settings of a Zone. */
export interface ZoneOptions {
  /** The domain served; default `weave.local.`. */
  domain?: string;
  /** TTL of answers and the SOA minimum, in seconds; default 1 (weaveDNS's code default). */
  ttl?: number;
  /** Random source in [0, 1) for shuffling answers; default Math.random. */
  random?: () => number;
}

/** The domain weaveDNS serves unless configured (`--dns-domain`). */
export const DEFAULT_DOMAIN = "weave.local.";
/** Default TTL in seconds (`--dns-ttl`): weaveDNS's code default, so changes show up at once. */
export const DEFAULT_TTL = 1;
const LABEL = /^[a-z0-9_-]{1,63}$/;

/** Lower-case absolute form of a domain; throws WEAVE_CONFIG when it is not a valid name. */
export function normalizeDomain(domain: string): string {
  const d = domain.toLowerCase().replace(/\.$/, "");
  const labels = d.split(".");
  if (d === "" || !labels.every((l) => LABEL.test(l)) || d.length + 2 > 255) {
    throw new WeaveError("WEAVE_CONFIG", `Invalid DNS domain "${domain}"`);
  }
  return d + ".";
}

/**
 * The absolute lower-case zone name for a registered `name` (rules in the module note), or
 * undefined when it is invalid, the apex itself, or an absolute name outside `domain`.
 * `domain` must be normalized (see normalizeDomain).
 */
export function toZoneName(name: string, domain: string): string | undefined {
  const absolute = name.endsWith(".");
  const base = (absolute ? name.slice(0, -1) : name).toLowerCase();
  const apex = domain.slice(0, -1);
  let fqdn: string;
  if (base === apex || base === "") return undefined;
  if (base.endsWith("." + apex)) fqdn = base + ".";
  else if (absolute) return undefined;
  else fqdn = `${base}.${domain}`;
  if (fqdn.length + 1 > 255) return undefined;
  return fqdn
    .slice(0, -1)
    .split(".")
    .every((l) => LABEL.test(l))
    ? fqdn
    : undefined;
}

/** The authoritative data of one domain. Synchronous; never blocks. */
export class Zone {
  readonly domain: string;
  readonly ttl: number;
  private readonly random: () => number;
  private versionNo = 0;
  /*
   * Memory: a 1,000-host cluster puts 100,000 names here, almost all with one owner, one entry and
   * one address. So the indexes hold the entry objects themselves (found again by identity), and
   * a single value rather than a one-element array or Map (see OneOrMany): no per-name key strings,
   * Maps or Sets. bench/dns-scale.ts measures it.
   */
  /** owner → its entries */
  private readonly owners = new Map<string, OneOrMany<NormalizedEntry>>();
  /** name → the entries registering it (any owner, scope, membership), in registration order */
  private readonly names = new Map<string, OneOrMany<NormalizedEntry>>();
  /** canonical address → the entries that hold it */
  private readonly reverse = new Map<string, OneOrMany<NormalizedEntry>>();
  /** empty non-terminals (ancestors of names below the apex) → scope ("" every network) → count */
  private readonly interior = new Map<string, Map<string, number>>();
  /** member address → owners whose own address it is (each once) */
  private readonly members = new Map<string, OneOrMany<string>>();
  /** gateway address → the network (scope) it serves */
  private gateways = new Map<string, string>();
  /** interned views by their sorted scopes; and the view of each asker, until the next change */
  private readonly views = new Map<string, ZoneView>();
  private readonly askers = new Map<string, ZoneView>();
  private readonly listeners = new Set<(change: ZoneChange) => void>();

  /** Throws WEAVE_CONFIG for an invalid domain or TTL. */
  constructor(options: ZoneOptions = {}) {
    this.domain = normalizeDomain(options.domain ?? DEFAULT_DOMAIN);
    const ttl = options.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
      throw new WeaveError("WEAVE_CONFIG", `Invalid DNS TTL ${ttl}: expected whole seconds`);
    }
    this.ttl = ttl;
    this.random = options.random ?? Math.random;
  }

  /** Increases on every change; a replica's version equals its source's after applying changes. */
  get version(): number {
    return this.versionNo;
  }

  /**
   * Replaces every record of `owner` with `entries` atomically (an empty list removes them).
   * Entries with the same name, scope and membership are merged. Returns false when nothing
   * changed. Throws WEAVE_BAD_REQUEST, before changing anything, for an invalid name or address.
   */
  set(owner: string, entries: readonly ZoneEntry[]): boolean {
    const normalized = this.normalize(entries);
    if (normalized.length === 0) return this.remove(owner);
    const old = this.owners.get(owner);
    if (old && JSON.stringify(listOf(old)) === JSON.stringify(normalized)) return false;
    this.commit({ op: "set", owner, entries: normalized, version: this.versionNo + 1 });
    return true;
  }

  /** Removes every record of `owner`; false when it had none. */
  remove(owner: string): boolean {
    if (!this.owners.has(owner)) return false;
    this.commit({ op: "remove", owner, version: this.versionNo + 1 });
    return true;
  }

  /**
   * Says which network each gateway address serves (`[address, network name]`): a question from
   * an address that is no container's, asked at a gateway, sees that network's names. Returns
   * false when nothing changed.
   */
  setGateways(gateways: readonly (readonly [string, string])[]): boolean {
    const next = [...gateways]
      .map(([ip, scope]): [string, string] => [canonicalIp(ip) ?? ip, scope])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (JSON.stringify(next) === JSON.stringify([...this.gateways])) return false;
    this.commit({ op: "gateways", gateways: next, version: this.versionNo + 1 });
    return true;
  }

  /** Applies a change made on another replica (entries must be normalized). */
  apply(change: ZoneChange): void {
    this.commit(change);
  }

  /** The entries registered for `owner`. */
  get(owner: string): readonly NormalizedEntry[] | undefined {
    const entries = this.owners.get(owner);
    return entries === undefined ? undefined : listOf(entries);
  }

  /** All owner keys (for reconciliation against running containers). */
  ownerKeys(): string[] {
    return [...this.owners.keys()];
  }

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: (change: ZoneChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): ZoneSnapshot {
    const owners: [string, NormalizedEntry[]][] = [];
    for (const [owner, entries] of this.owners)
      owners.push([owner, Array.isArray(entries) ? entries : [entries]]);
    return { version: this.versionNo, owners, gateways: [...this.gateways] };
  }

  /** Replaces the whole content with `snapshot` (a replica's start). */
  load(snapshot: ZoneSnapshot): void {
    for (const owner of [...this.owners.keys()]) this.unregister(owner);
    for (const [owner, entries] of snapshot.owners) this.register(owner, entries);
    this.gateways = new Map(snapshot.gateways ?? []);
    this.askers.clear();
    this.versionNo = snapshot.version;
  }

  /**
   * The view of a question from `source` that arrived at the local address `local` (rules in the
   * module note). O(1) on repeated askers: cached until the zone changes.
   */
  viewFor(source: string, local: string): ZoneView {
    const key = `${source} ${local}`;
    const cached = this.askers.get(key);
    if (cached !== undefined) return cached;
    let scopes: string[] | undefined;
    const src = canonicalIp(source) ?? source;
    const owners = this.members.get(src);
    if (src === (canonicalIp(local) ?? local) || this.gateways.has(src) || isLoopback(src)) {
      // The host itself: every name, as weave dns-lookup. Its questions to a gateway come from that
      // address, or from 127.0.0.1 once masqueraded (the gateway's subnet leaving through lo).
      scopes = undefined;
    } else if (owners !== undefined) {
      const set = new Set<string>();
      for (const owner of listOf(owners))
        for (const e of listOf(this.owners.get(owner))) if (e.member && e.scope) set.add(e.scope);
      scopes = [...set];
    } else {
      const gateway = this.gateways.get(canonicalIp(local) ?? local);
      if (gateway !== undefined) scopes = [gateway];
    }
    const view = this.intern(scopes);
    if (this.askers.size >= 10_000) this.askers.clear(); // bounds memory under spoofed sources
    this.askers.set(key, view);
    return view;
  }

  /** The interned view of exactly `scopes` (undefined: every network). */
  view(scopes: readonly string[] | undefined): ZoneView {
    return this.intern(scopes === undefined ? undefined : [...scopes]);
  }

  private intern(scopes: string[] | undefined): ZoneView {
    if (scopes === undefined) return ALL_NETWORKS;
    const key = scopes.sort().join("\u0000");
    let view = this.views.get(key);
    if (view === undefined) {
      if (this.views.size >= 100_000) this.views.clear();
      view = { id: nextViewId(), scopes: new Set(scopes) };
      this.views.set(key, view);
    }
    return view;
  }

  /** The zone's SOA record. The serial is the version (mod 2^32). */
  soa(): ResourceRecord {
    return {
      type: "SOA",
      name: this.domain,
      ttl: this.ttl,
      mname: this.domain,
      rname: `hostmaster.${this.domain}`,
      serial: this.versionNo >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: this.ttl,
    };
  }

  /**
   * Answers a question as seen through `view` (default: every network). `qname` is an absolute
   * presentation name in any case; answers are owned by `qname` exactly as given, so they echo the
   * asker's case. Pure apart from the shuffle.
   */
  lookup(qname: string, qtype: number, qclass: number = CLASS_IN, view: ZoneView = ALL_NETWORKS): ZoneResult {
    const name = qname.toLowerCase();
    const inZone = name === this.domain || name.endsWith("." + this.domain);
    if (inZone) return this.lookupInZone(name, qname, qtype, qclass, view);
    if (qclass !== CLASS_IN && qclass !== CLASS_ANY) return { kind: "notauth" };
    const dot = name.indexOf(".");
    if (dot > 0 && dot === name.length - 1) {
      const owners = this.names.get(name + this.domain);
      if (!owners || !this.visible(owners, view)) return { kind: "notauth" };
      const answers = this.addressRecords(owners, qname, qtype, view);
      // Not authoritative for the root zone, so NODATA carries no SOA here.
      return answers.length ? { kind: "answer", answers, authority: [] } : { kind: "nodata", authority: [] };
    }
    if (qtype === RRType.PTR || qtype === RRType.ANY) {
      const answers = this.pointerRecords(name, qname, view);
      if (answers.length > 0) return { kind: "answer", answers, authority: [] };
    }
    return { kind: "notauth" };
  }

  private lookupInZone(
    name: string,
    qname: string,
    qtype: number,
    qclass: number,
    view: ZoneView,
  ): ZoneResult {
    if (qclass !== CLASS_IN && qclass !== CLASS_ANY) return { kind: "refused" };
    if (qtype === RRType.AXFR || qtype === RRType.IXFR) return { kind: "refused" };
    const negative = [this.soa()];
    if (name === this.domain) {
      if (qtype === RRType.SOA || qtype === RRType.ANY) {
        return { kind: "answer", answers: [{ ...this.soa(), name: qname }], authority: [] };
      }
      return { kind: "nodata", authority: negative };
    }
    const owners = this.names.get(name);
    if (owners && this.visible(owners, view)) {
      const answers = this.addressRecords(owners, qname, qtype, view);
      return answers.length
        ? { kind: "answer", answers, authority: [] }
        : { kind: "nodata", authority: negative };
    }
    const interior = this.interior.get(name);
    if (interior && [...interior.keys()].some((scope) => sees(view, scope || undefined))) {
      return { kind: "nodata", authority: negative };
    }
    return { kind: "nxdomain", authority: negative };
  }

  private visible(entries: OneOrMany<NormalizedEntry>, view: ZoneView): boolean {
    if (view.scopes === undefined) return true;
    if (!Array.isArray(entries)) return sees(view, entries.scope);
    for (const e of entries) if (sees(view, e.scope)) return true;
    return false;
  }

  private pointerRecords(name: string, qname: string, view: ZoneView): ResourceRecord[] {
    const ip = addressFromReverseName(name);
    const holders = ip === undefined ? undefined : this.reverse.get(ip);
    const answers: ResourceRecord[] = [];
    const seen = new Set<string>();
    for (const e of listOf(holders)) {
      if (seen.has(e.name) || !sees(view, e.scope)) continue;
      seen.add(e.name);
      answers.push({ type: "PTR", name: qname, ttl: this.ttl, target: e.name });
    }
    return answers;
  }

  private addressRecords(
    entries: OneOrMany<NormalizedEntry>,
    qname: string,
    qtype: number,
    view: ZoneView,
  ): ResourceRecord[] {
    const out: ResourceRecord[] = [];
    const wantA = qtype === RRType.A || qtype === RRType.ANY;
    const wantAAAA = qtype === RRType.AAAA || qtype === RRType.ANY;
    if (!wantA && !wantAAAA) return out;
    let v4: string[];
    let v6: string[];
    if (!Array.isArray(entries)) {
      // One entry (the usual case): its addresses are already unique.
      const seen = sees(view, entries.scope);
      v4 = seen && wantA ? [...entries.ipv4] : [];
      v6 = seen && wantAAAA ? [...entries.ipv6] : [];
    } else {
      const s4 = new Set<string>();
      const s6 = new Set<string>();
      for (const e of entries) {
        if (!sees(view, e.scope)) continue;
        if (wantA) for (const ip of e.ipv4) s4.add(ip);
        if (wantAAAA) for (const ip of e.ipv6) s6.add(ip);
      }
      v4 = [...s4];
      v6 = [...s6];
    }
    for (const address of this.shuffle(v4)) out.push({ type: "A", name: qname, ttl: this.ttl, address });
    for (const address of this.shuffle(v6)) out.push({ type: "AAAA", name: qname, ttl: this.ttl, address });
    return out;
  }

  private shuffle<T>(list: T[]): T[] {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = list[i] as T;
      list[i] = list[j] as T;
      list[j] = t;
    }
    return list;
  }

  private normalize(entries: readonly ZoneEntry[]): NormalizedEntry[] {
    const byKey = new Map<string, NormalizedEntry & { v4: Set<string>; v6: Set<string> }>();
    for (const e of entries) {
      const name = toZoneName(e.name, this.domain);
      if (name === undefined) {
        throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid DNS name "${e.name}" for domain "${this.domain}"`);
      }
      const scope = e.scope ?? "";
      const key = `${name}\u0000${scope}\u0000${e.member === true ? 1 : 0}`;
      let slot = byKey.get(key);
      if (!slot) {
        slot = { name, ipv4: [], ipv6: [], v4: new Set<string>(), v6: new Set<string>() };
        if (scope !== "") slot.scope = scope;
        if (e.member === true) slot.member = true;
        byKey.set(key, slot);
      }
      for (const ip of e.ipv4 ?? []) {
        if (!parseIpv4(ip))
          throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IPv4 address "${ip}" for "${e.name}"`);
        slot.v4.add(ip);
      }
      for (const ip of e.ipv6 ?? []) {
        const canon = parseIpv6(ip) ? canonicalIp(ip) : undefined;
        if (canon === undefined) {
          throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IPv6 address "${ip}" for "${e.name}"`);
        }
        slot.v6.add(canon);
      }
    }
    return [...byKey.entries()]
      .filter(([, s]) => s.v4.size + s.v6.size > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, s]) => {
        const out: NormalizedEntry = { name: s.name, ipv4: [...s.v4].sort(), ipv6: [...s.v6].sort() };
        if (s.scope !== undefined) out.scope = s.scope;
        if (s.member) out.member = true;
        return out;
      });
  }

  private commit(change: ZoneChange): void {
    if (change.op === "gateways") {
      this.gateways = new Map(change.gateways);
    } else {
      this.unregister(change.owner);
      if (change.op === "set") this.register(change.owner, change.entries);
    }
    this.askers.clear();
    this.versionNo = change.version;
    for (const l of this.listeners) l(change);
  }

  private register(owner: string, entries: NormalizedEntry[]): void {
    this.owners.set(owner, entries.length === 1 ? (entries[0] as NormalizedEntry) : entries);
    for (const e of entries) {
      add(this.names, e.name, e);
      for (const anc of this.ancestors(e.name)) count(this.interior, anc, e.scope ?? "", 1);
      for (const ip of e.ipv4) this.registerAddress(owner, e, ip);
      for (const ip of e.ipv6) this.registerAddress(owner, e, ip);
    }
  }

  private registerAddress(owner: string, e: NormalizedEntry, ip: string): void {
    add(this.reverse, ip, e);
    if (!e.member) return;
    const owners = this.members.get(ip);
    if (owners === undefined || !listOf(owners).includes(owner)) add(this.members, ip, owner);
  }

  private unregister(owner: string): void {
    const entries = this.owners.get(owner);
    if (!entries) return;
    this.owners.delete(owner);
    for (const e of listOf(entries)) {
      drop(this.names, e.name, e);
      for (const anc of this.ancestors(e.name)) count(this.interior, anc, e.scope ?? "", -1);
      for (const ip of e.ipv4) this.unregisterAddress(owner, e, ip);
      for (const ip of e.ipv6) this.unregisterAddress(owner, e, ip);
    }
  }

  private unregisterAddress(owner: string, e: NormalizedEntry, ip: string): void {
    drop(this.reverse, ip, e);
    drop(this.members, ip, owner);
  }

  /** Proper ancestors of `name` strictly below the apex. */
  private ancestors(name: string): string[] {
    const out: string[] = [];
    let n = name.slice(name.indexOf(".") + 1);
    while (n !== this.domain && n.length > this.domain.length) {
      out.push(n);
      n = n.slice(n.indexOf(".") + 1);
    }
    return out;
  }
}

const isLoopback = (ip: string): boolean => ip.startsWith("127.") || ip === "::1";

let lastViewId = 0;
/** Process-wide view IDs, so no two distinct views ever share one (0 is ALL_NETWORKS). */
function nextViewId(): number {
  return ++lastViewId;
}

/** One value, or several in an array (values are never arrays themselves). */
type OneOrMany<T> = T | T[];

const NONE: readonly never[] = [];

/** The values of a OneOrMany slot, as a list (read-only: it may be the slot's own array). */
function listOf<T>(slot: OneOrMany<T> | undefined): readonly T[] {
  if (slot === undefined) return NONE;
  return Array.isArray(slot) ? slot : [slot];
}

/** Adds `value` to the slot at `key` (a duplicate is added again). */
function add<T>(map: Map<string, OneOrMany<T>>, key: string, value: T): void {
  const slot = map.get(key);
  if (slot === undefined) map.set(key, value);
  else if (Array.isArray(slot)) slot.push(value);
  else map.set(key, [slot, value]);
}

/** Removes `value` (by identity) from the slot at `key`, dropping slots that empty. */
function drop<T>(map: Map<string, OneOrMany<T>>, key: string, value: T): void {
  const slot = map.get(key);
  if (slot === undefined) return;
  if (!Array.isArray(slot)) {
    if (slot === value) map.delete(key);
    return;
  }
  const i = slot.indexOf(value);
  if (i < 0) return;
  slot.splice(i, 1);
  if (slot.length === 1) map.set(key, slot[0] as T);
}

/** Adds `delta` to a two-level reference count, dropping entries that reach zero. */
function count(map: Map<string, Map<string, number>>, outer: string, inner: string, delta: number): void {
  const m = map.get(outer) ?? new Map<string, number>();
  const n = (m.get(inner) ?? 0) + delta;
  if (n > 0) m.set(inner, n);
  else m.delete(inner);
  if (m.size > 0) map.set(outer, m);
  else map.delete(outer);
}
