/**
 * weaveDNS across hosts. Outbound: the records of this host's containers (zone owners `c:` and `m:`)
 * are published under dns/<host>/<owner>, under the host's lease. Inbound: every other host's
 * records are copied into the local zone as owners `r:<host>:<owner>`, so each host answers for
 * every container from memory, and keeps answering with the last known records while the store is
 * unreachable. A host whose lease expires loses its names everywhere.
 */
import type { Logger } from "../core/index.js";
import type { NormalizedEntry, ZoneChange, ZoneEntry } from "../dns/index.js";
import type { PrefixMirror } from "./mirror.js";
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
const isLocalOwner = (owner: string): boolean => owner.startsWith("c:") || owner.startsWith("m:");

export class DnsReplica {
  private readonly desired = new Map<string, string>();
  /** Zone owners copied from the mirror, with the value they were copied from. */
  private readonly applied = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly o: {
      zone: ReplicaZone;
      host: string;
      mirror: PrefixMirror;
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
    this.unsubscribe?.();
  }

  /** Copies the other hosts' records from the mirror into the zone (call on every mirror change). */
  apply(): void {
    const { zone, host, mirror, logger } = this.o;
    const wanted = new Map<string, string>();
    for (const kv of mirror.entries()) {
      const parts = keyParts(kv.key, DNS);
      if (!parts || parts.length !== 2) continue;
      const [peer = "", owner = ""] = parts;
      if (peer === host) continue;
      wanted.set(`${REMOTE_OWNER_PREFIX}${peer}:${decodeURIComponent(owner)}`, kv.value);
    }
    for (const [owner, value] of wanted) {
      if (this.applied.get(owner) === value) continue;
      const set = parseDnsRecordSet(value);
      if (!set) {
        logger.warning("ignoring DNS records weave cannot read", { owner });
        continue;
      }
      zone.set(owner, set.entries);
      this.applied.set(owner, value);
    }
    for (const owner of [...this.applied.keys()]) {
      if (wanted.has(owner)) continue;
      zone.remove(owner);
      this.applied.delete(owner);
    }
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
