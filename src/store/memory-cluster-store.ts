/**
 * An in-memory ClusterStore with etcd's semantics (revisions, leases, watches, compaction) for unit
 * tests. `compact(revision)` drops the history before `revision`, as etcd does; a watch from before
 * the compaction revision then ends with WatchCompacted (asynchronously, as from etcd). A listing is
 * always one snapshot (it is synchronous).
 */
import { WeaveError } from "../core/index.js";
import type { ClusterStore, KeyValue, PutOptions, Watch, WatchEvent } from "./cluster-store.js";
import { WatchCompacted } from "./cluster-store.js";

interface Lease {
  ttl: number;
  expiresAt: number;
}

export class MemoryClusterStore implements ClusterStore {
  private revision = 1;
  /** The oldest revision a watch may start at (etcd's compact revision; 0 before any compaction). */
  private compacted = 0;
  private readonly kvs = new Map<string, KeyValue>();
  private readonly leases = new Map<string, Lease>();
  private readonly history: WatchEvent[] = [];
  private readonly watchers = new Set<{ prefix: string; onEvent: (e: WatchEvent) => void }>();
  private nextLease = 1;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Expires leases whose time has come (call after advancing a fake clock). */
  expireLeases(): void {
    for (const [id, l] of this.leases) if (l.expiresAt <= this.now()) this.dropLease(id);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.expireLeases();
    const kv = this.kvs.get(key);
    return kv && { ...kv };
  }

  async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    this.expireLeases();
    const items = [...this.kvs.values()].filter((kv) => kv.key.startsWith(prefix)).map((kv) => ({ ...kv }));
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { items, revision: this.revision };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<number> {
    this.expireLeases();
    this.write(key, value, options.lease ?? "");
    return this.revision;
  }

  async delete(key: string): Promise<boolean> {
    this.expireLeases();
    return this.remove(key);
  }

  async create(key: string, value: string, options: PutOptions = {}): Promise<boolean> {
    this.expireLeases();
    if (this.kvs.has(key)) return false;
    this.write(key, value, options.lease ?? "");
    return true;
  }

  async compareAndSwap(
    key: string,
    modRevision: number,
    value: string,
    options: PutOptions = {},
  ): Promise<boolean> {
    this.expireLeases();
    if (this.kvs.get(key)?.modRevision !== modRevision) return false;
    this.write(key, value, options.lease ?? "");
    return true;
  }

  async compareAndDelete(key: string, modRevision: number): Promise<boolean> {
    this.expireLeases();
    if (this.kvs.get(key)?.modRevision !== modRevision) return false;
    return this.remove(key);
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    const id = String(this.nextLease++);
    this.leases.set(id, { ttl: ttlSeconds, expiresAt: this.now() + ttlSeconds * 1000 });
    return id;
  }

  async keepAlive(lease: string): Promise<number> {
    this.expireLeases();
    const l = this.leases.get(lease);
    if (!l) return 0;
    l.expiresAt = this.now() + l.ttl * 1000;
    return l.ttl;
  }

  async revokeLease(lease: string): Promise<void> {
    this.dropLease(lease);
  }

  /**
   * Drops the history before `revision`, as etcd's compaction does. Rejects with WEAVE_STATE, as etcd,
   * for a revision already compacted or not reached yet.
   */
  async compact(revision: number): Promise<void> {
    if (revision <= this.compacted)
      throw new WeaveError("WEAVE_STATE", "etcdserver: mvcc: required revision has been compacted");
    if (revision > this.revision)
      throw new WeaveError("WEAVE_STATE", "etcdserver: mvcc: required revision is a future revision");
    this.compacted = revision;
    const keep = this.history.findIndex((e) => e.modRevision >= revision); // In revision order.
    this.history.splice(0, keep === -1 ? this.history.length : keep);
  }

  /** Replays the history from `fromRevision`, then follows; onError (later) with WatchCompacted when it was dropped. */
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): Watch {
    if (fromRevision < this.compacted) {
      let closed = false;
      const err = new WatchCompacted(prefix, fromRevision, this.compacted);
      queueMicrotask(() => closed || onError(err));
      return { close: () => void (closed = true) };
    }
    for (const e of this.history) if (e.modRevision >= fromRevision && e.key.startsWith(prefix)) onEvent(e);
    const w = { prefix, onEvent };
    this.watchers.add(w);
    return { close: () => this.watchers.delete(w) };
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }

  private write(key: string, value: string, lease: string): void {
    if (lease !== "" && !this.leases.has(lease)) throw new Error(`etcdserver: requested lease not found`);
    this.revision++;
    const old = this.kvs.get(key);
    this.kvs.set(key, {
      key,
      value,
      lease,
      createRevision: old?.createRevision ?? this.revision,
      modRevision: this.revision,
    });
    this.emit({ type: "put", key, value, modRevision: this.revision });
  }

  private remove(key: string): boolean {
    if (!this.kvs.delete(key)) return false;
    this.revision++;
    this.emit({ type: "delete", key, value: "", modRevision: this.revision });
    return true;
  }

  private dropLease(id: string): void {
    if (!this.leases.delete(id)) return;
    for (const kv of [...this.kvs.values()]) if (kv.lease === id) this.remove(kv.key);
  }

  private emit(e: WatchEvent): void {
    this.history.push(e);
    for (const w of this.watchers) if (e.key.startsWith(w.prefix)) w.onEvent(e);
  }
}
