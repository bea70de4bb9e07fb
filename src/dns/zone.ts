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
 */
import { WeaveError } from "../core/index.js";
import { CLASS_ANY, CLASS_IN, RRType } from "./codec.js";
import type { ResourceRecord } from "./encoder.js";
import { addressFromReverseName, canonicalIp, parseIpv4, parseIpv6 } from "./ip.js";

/** Names and addresses to register for one owner. */
export interface ZoneEntry {
  name: string;
  ipv4?: readonly string[];
  ipv6?: readonly string[];
}

/** A validated entry: absolute lower-case name, canonical deduplicated addresses. */
export interface NormalizedEntry {
  name: string;
  ipv4: string[];
  ipv6: string[];
}

/** One change, as broadcast to replicas (`version` is the zone version after it). */
export type ZoneChange =
  | { op: "set"; owner: string; entries: NormalizedEntry[]; version: number }
  | { op: "remove"; owner: string; version: number };

/** Everything in a zone, JSON-serialisable (for starting a replica). */
export interface ZoneSnapshot {
  version: number;
  owners: [string, NormalizedEntry[]][];
}

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
  private readonly owners = new Map<string, NormalizedEntry[]>();
  /** name → owner → entry */
  private readonly names = new Map<string, Map<string, NormalizedEntry>>();
  /** canonical address → name → number of owners registering that pair */
  private readonly reverse = new Map<string, Map<string, number>>();
  /** empty non-terminals (ancestors of names below the apex) → reference count */
  private readonly interior = new Map<string, number>();
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
   * Entries with the same name are merged. Returns false when nothing changed.
   * Throws WEAVE_BAD_REQUEST, before changing anything, for an invalid name or address.
   */
  set(owner: string, entries: readonly ZoneEntry[]): boolean {
    const normalized = this.normalize(entries);
    if (normalized.length === 0) return this.remove(owner);
    const old = this.owners.get(owner);
    if (old && JSON.stringify(old) === JSON.stringify(normalized)) return false;
    this.commit({ op: "set", owner, entries: normalized, version: this.versionNo + 1 });
    return true;
  }

  /** Removes every record of `owner`; false when it had none. */
  remove(owner: string): boolean {
    if (!this.owners.has(owner)) return false;
    this.commit({ op: "remove", owner, version: this.versionNo + 1 });
    return true;
  }

  /** Applies a change made on another replica (entries must be normalized). */
  apply(change: ZoneChange): void {
    this.commit(change);
  }

  /** The entries registered for `owner`. */
  get(owner: string): readonly NormalizedEntry[] | undefined {
    return this.owners.get(owner);
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
    return { version: this.versionNo, owners: [...this.owners.entries()] };
  }

  /** Replaces the whole content with `snapshot` (a replica's start). */
  load(snapshot: ZoneSnapshot): void {
    for (const owner of [...this.owners.keys()]) this.unregister(owner);
    for (const [owner, entries] of snapshot.owners) this.register(owner, entries);
    this.versionNo = snapshot.version;
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
   * Answers a question. `qname` is an absolute presentation name in any case; answers are owned
   * by `qname` exactly as given, so they echo the asker's case. Pure apart from the shuffle.
   */
  lookup(qname: string, qtype: number, qclass: number = CLASS_IN): ZoneResult {
    const name = qname.toLowerCase();
    const inZone = name === this.domain || name.endsWith("." + this.domain);
    if (inZone) {
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
      if (owners) {
        const answers = this.addressRecords(owners, qname, qtype);
        return answers.length
          ? { kind: "answer", answers, authority: [] }
          : { kind: "nodata", authority: negative };
      }
      if (this.interior.has(name)) return { kind: "nodata", authority: negative };
      return { kind: "nxdomain", authority: negative };
    }
    if (qclass !== CLASS_IN && qclass !== CLASS_ANY) return { kind: "notauth" };
    const dot = name.indexOf(".");
    if (dot > 0 && dot === name.length - 1) {
      const owners = this.names.get(name + this.domain);
      if (!owners) return { kind: "notauth" };
      const answers = this.addressRecords(owners, qname, qtype);
      // Not authoritative for the root zone, so NODATA carries no SOA here.
      return answers.length ? { kind: "answer", answers, authority: [] } : { kind: "nodata", authority: [] };
    }
    if (qtype === RRType.PTR || qtype === RRType.ANY) {
      const ip = addressFromReverseName(name);
      const targets = ip === undefined ? undefined : this.reverse.get(ip);
      if (targets) {
        const answers: ResourceRecord[] = [];
        for (const target of targets.keys())
          answers.push({ type: "PTR", name: qname, ttl: this.ttl, target });
        return { kind: "answer", answers, authority: [] };
      }
    }
    return { kind: "notauth" };
  }

  private addressRecords(
    owners: Map<string, NormalizedEntry>,
    qname: string,
    qtype: number,
  ): ResourceRecord[] {
    const out: ResourceRecord[] = [];
    const wantA = qtype === RRType.A || qtype === RRType.ANY;
    const wantAAAA = qtype === RRType.AAAA || qtype === RRType.ANY;
    if (!wantA && !wantAAAA) return out;
    const v4 = new Set<string>();
    const v6 = new Set<string>();
    for (const e of owners.values()) {
      if (wantA) for (const ip of e.ipv4) v4.add(ip);
      if (wantAAAA) for (const ip of e.ipv6) v6.add(ip);
    }
    for (const address of this.shuffle([...v4])) out.push({ type: "A", name: qname, ttl: this.ttl, address });
    for (const address of this.shuffle([...v6]))
      out.push({ type: "AAAA", name: qname, ttl: this.ttl, address });
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
    const byName = new Map<string, { ipv4: Set<string>; ipv6: Set<string> }>();
    for (const e of entries) {
      const name = toZoneName(e.name, this.domain);
      if (name === undefined) {
        throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid DNS name "${e.name}" for domain "${this.domain}"`);
      }
      const slot = byName.get(name) ?? { ipv4: new Set<string>(), ipv6: new Set<string>() };
      byName.set(name, slot);
      for (const ip of e.ipv4 ?? []) {
        if (!parseIpv4(ip))
          throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IPv4 address "${ip}" for "${e.name}"`);
        slot.ipv4.add(ip);
      }
      for (const ip of e.ipv6 ?? []) {
        const canon = parseIpv6(ip) ? canonicalIp(ip) : undefined;
        if (canon === undefined) {
          throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IPv6 address "${ip}" for "${e.name}"`);
        }
        slot.ipv6.add(canon);
      }
    }
    return [...byName.entries()]
      .filter(([, s]) => s.ipv4.size + s.ipv6.size > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, s]) => ({ name, ipv4: [...s.ipv4].sort(), ipv6: [...s.ipv6].sort() }));
  }

  private commit(change: ZoneChange): void {
    this.unregister(change.owner);
    if (change.op === "set") this.register(change.owner, change.entries);
    this.versionNo = change.version;
    for (const l of this.listeners) l(change);
  }

  private register(owner: string, entries: NormalizedEntry[]): void {
    this.owners.set(owner, entries);
    for (const e of entries) {
      let owners = this.names.get(e.name);
      if (!owners) {
        owners = new Map();
        this.names.set(e.name, owners);
        for (const anc of this.ancestors(e.name)) this.interior.set(anc, (this.interior.get(anc) ?? 0) + 1);
      }
      owners.set(owner, e);
      for (const ip of [...e.ipv4, ...e.ipv6]) {
        const targets = this.reverse.get(ip) ?? new Map<string, number>();
        this.reverse.set(ip, targets);
        targets.set(e.name, (targets.get(e.name) ?? 0) + 1);
      }
    }
  }

  private unregister(owner: string): void {
    const entries = this.owners.get(owner);
    if (!entries) return;
    this.owners.delete(owner);
    for (const e of entries) {
      const owners = this.names.get(e.name);
      owners?.delete(owner);
      if (owners?.size === 0) {
        this.names.delete(e.name);
        for (const anc of this.ancestors(e.name)) {
          const n = (this.interior.get(anc) ?? 1) - 1;
          if (n <= 0) this.interior.delete(anc);
          else this.interior.set(anc, n);
        }
      }
      for (const ip of [...e.ipv4, ...e.ipv6]) {
        const targets = this.reverse.get(ip);
        const n = (targets?.get(e.name) ?? 1) - 1;
        if (n > 0) targets?.set(e.name, n);
        else targets?.delete(e.name);
        if (targets?.size === 0) this.reverse.delete(ip);
      }
    }
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
