/**
 * weaveDNS across hosts. Outbound: the records of this host's containers (zone owners `c:` and `m:`)
 * are published under dns/<host>/<owner>, under the host's lease. Inbound: every other host's
 * records are copied into the local zone as owners `r:<host>:<owner>`, so each host answers for
 * every container from memory, and keeps answering with the last known records while the store is
 * unreachable. A host whose lease expires loses its names everywhere.
 *
 * The zone holds the only copy of the other hosts' records: the DNS mirror keeps nothing (`keep:
 * false`), and the replica follows its changes, listings included (they carry their records).
 */
import type { Logger } from "../core/index.js";
import { errorMessage } from "../core/index.js";
import type { NormalizedEntry, ZoneChange, ZoneEntry } from "../dns/index.js";
import type { KeyValue } from "../store/index.js";
import type { MirrorChange } from "./mirror.js";
import type { LeasedPublisher } from "./publisher.js";
import { DNS, dnsKey, keyParts, parseDnsRecordSet } from "./records.js";

/** The part of the zone the replica reads and writes. */
export interface ReplicaZone {
  set(owner: string, entries: readonly ZoneEntry[]): boolean;
  remove(owner: string): boolean;
  get(owner: string): readonly NormalizedEntry[] | undefined;
  ownerKeys(): string[];
  subscribe(listener: (change: ZoneChange) => void): () => void;
}

export const REMOTE_OWNER_PREFIX = "r:";
/**
 * A listing longer than this is copied in chunks of this many records, yielding to the event loop
 * between them: 100,000 records take the zone about 2 s, which would otherwise stall everything
 * else in the daemon (at a start: the first programming of the kernel). Changes that come meanwhile
 * wait, in order, until the listing is in.
 */
export const LISTING_CHUNK = 2_000;
const isLocalOwner = (owner: string): boolean => owner.startsWith("c:") || owner.startsWith("m:");

export class DnsReplica {
  private readonly desired = new Map<string, string>();
  /** Zone owners copied from the mirror, with the revision of the record they were copied from. */
  private readonly applied = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;
  /** Changes that came while a long listing is being copied (undefined: none under way). */
  private waiting: MirrorChange[] | undefined;
  private closed = false;

  constructor(
    private readonly o: {
      zone: ReplicaZone;
      host: string;
      publisher: LeasedPublisher;
      logger: Logger;
    },
  ) {}

  start(): void {
    const { zone } = this.o;
    for (const owner of zone.ownerKeys()) this.ownerChanged(owner);
    this.unsubscribe = zone.subscribe((change) => {
      // Gateways are each host's own: not published.
      if (change.op === "gateways") return;
      if (this.ownerChanged(change.owner)) this.o.publisher.replace(this.desired);
    });
    this.o.publisher.replace(this.desired);
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
  }

  /**
   * Follows one change of the mirror: a key's change is copied alone (a burst of 100,000 lease
   * expiries costs 100,000 small steps, not 100,000 passes over the zone); a (re)listing compares
   * everything.
   */
  changed(change: MirrorChange): void {
    if (this.waiting) {
      this.waiting.push(change);
      return;
    }
    if (change.kind === "reset") {
      if (change.items.length <= LISTING_CHUNK) this.apply(change.items);
      else
        this.applyInChunks(change.items).catch((err: unknown) =>
          this.o.logger.warning("copying the DNS records of a listing failed", { error: errorMessage(err) }),
        );
      return;
    }
    const owner = this.ownerOf(change.key);
    if (owner === undefined) return;
    if (change.value) this.copy(owner, change.value);
    else if (this.applied.delete(owner)) this.o.zone.remove(owner);
  }

  /** Copies the other hosts' records of a listing into the zone, and drops those gone. */
  private apply(items: readonly KeyValue[]): void {
    const wanted = new Set<string>();
    this.copyAll(items, 0, items.length, wanted);
    this.dropUnwanted(wanted);
  }

  /** As apply, LISTING_CHUNK records at a time; then the changes that came meanwhile, in order. */
  private async applyInChunks(items: readonly KeyValue[]): Promise<void> {
    this.waiting = [];
    try {
      const wanted = new Set<string>();
      for (let from = 0; from < items.length; from += LISTING_CHUNK) {
        if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.closed) return;
        this.copyAll(items, from, Math.min(items.length, from + LISTING_CHUNK), wanted);
      }
      this.dropUnwanted(wanted);
    } finally {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (!this.closed) this.replay(waiting);
    }
  }

  /** Follows `changes` in order; when one is a long listing, the rest waits for it. */
  private replay(changes: readonly MirrorChange[]): void {
    for (const [i, change] of changes.entries()) {
      this.changed(change);
      if (this.waiting) {
        this.waiting.push(...changes.slice(i + 1));
        return;
      }
    }
  }

  private copyAll(items: readonly KeyValue[], from: number, to: number, wanted: Set<string>): void {
    for (let i = from; i < to; i++) {
      const kv = items[i];
      const owner = kv && this.ownerOf(kv.key);
      if (!kv || owner === undefined) continue;
      wanted.add(owner);
      this.copy(owner, kv);
    }
  }

  private dropUnwanted(wanted: ReadonlySet<string>): void {
    for (const owner of [...this.applied.keys()]) {
      if (wanted.has(owner)) continue;
      this.o.zone.remove(owner);
      this.applied.delete(owner);
    }
  }

  /** The zone owner of another host's dns/<host>/<owner> key; undefined for this host's and others. */
  private ownerOf(key: string): string | undefined {
    const parts = keyParts(key, DNS);
    if (!parts || parts.length !== 2) return undefined;
    const [peer = "", owner = ""] = parts;
    return peer === this.o.host ? undefined : `${REMOTE_OWNER_PREFIX}${peer}:${decodeURIComponent(owner)}`;
  }

  /** Sets one remote owner in the zone from its record, unless that revision is there already. */
  private copy(owner: string, kv: KeyValue): void {
    if (this.applied.get(owner) === kv.modRevision) return;
    const set = parseDnsRecordSet(kv.value);
    if (!set) {
      this.o.logger.warning("ignoring DNS records weave cannot read", { owner });
      return;
    }
    this.o.zone.set(owner, set.entries);
    this.applied.set(owner, kv.modRevision);
  }

  /** Updates the published copy of one local owner; true when it changed. */
  private ownerChanged(owner: string): boolean {
    if (!isLocalOwner(owner)) return false;
    const key = dnsKey(this.o.host, owner);
    const entries = this.o.zone.get(owner);
    if (!entries || entries.length === 0) return this.desired.delete(key);
    const value = JSON.stringify({ entries });
    if (this.desired.get(key) === value) return false;
    this.desired.set(key, value);
    return true;
  }
}
