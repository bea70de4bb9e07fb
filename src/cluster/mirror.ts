/**
 * A local mirror of every key under one prefix of the cluster store: listed once, then kept up to
 * date by a watch from the listing's revision + 1. A listing is one snapshot (EtcdStore reads its
 * pages at one revision), so the watch continues it with no gap.
 *
 * When the watch breaks (store unreachable) the mirror keeps what it has, so that answers go on from
 * the last known state, and lists and watches again with a growing delay (0.5 s to 5 s), reporting
 * the failure by onHealth. When the store compacted past the watch's revision (WatchCompacted) the
 * store is fine but the changes since the listing are gone: the mirror lists again at once, without a
 * delay or a failure report (a second compaction in a row, with no event between, waits the delay:
 * no tight loop of listings). Either way a successful re-list replaces the content as a whole, so
 * deletes missed meanwhile are noticed, and onChange says so with `{ kind: "reset" }`, which carries
 * the listing.
 *
 * Memory: at 1,000 hosts a prefix holds 100,000 records. An owner that reads them only parsed
 * gives `keep`, and the mirror holds the parsed form alone (not the raw value and again a parsed
 * copy); an owner that keeps its own copy (the DNS zone) gives `keep: false`, and the mirror holds
 * nothing per key: the owner follows the changes, the listing included.
 */
import type { Clock, Logger, Timer } from "../core/index.js";
import { errorMessage, realClock } from "../core/index.js";
import type { ClusterStore, KeyValue, Watch, WatchEvent } from "../store/index.js";
import { isWatchCompacted } from "../store/index.js";

/**
 * What changed: the whole content (a listing, whose records are `items`), or one key (a watch
 * event; `value` undefined = deleted).
 */
export type MirrorChange =
  { kind: "reset"; items: readonly KeyValue[] } | { kind: "key"; key: string; value: KeyValue | undefined };

export interface MirrorOptions<T = KeyValue> {
  store: ClusterStore;
  prefix: string;
  logger: Logger;
  /** Called after every change of the content (a listing or a watch event), saying what changed. */
  onChange: (change: MirrorChange) => void;
  /** Reports whether the store answered (true) or failed (false). */
  onHealth?: (ok: boolean, error?: string) => void;
  /** The retry timer's clock (default: the real clock). */
  clock?: Clock | undefined;
  /**
   * What the mirror keeps of each record, by key (default: the record itself, with its
   * createRevision and lease carried over watch events, which do not say them). `false`: nothing;
   * get() and entries() then find nothing, and the owner keeps what it needs from the changes.
   */
  keep?: ((kv: KeyValue) => T) | false;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;

export class PrefixMirror<T = KeyValue> {
  private readonly items = new Map<string, T>();
  private watch: Watch | undefined;
  private timer: Timer | undefined;
  private retryMs = MIN_RETRY_MS;
  private closed = false;
  private generation = 0;
  /** True while the last relist was for a compaction and its watch has delivered nothing yet. */
  private relistedForCompaction = false;
  /** True once a listing has succeeded. */
  synced = false;

  constructor(private readonly o: MirrorOptions<T>) {}

  start(): void {
    void this.relist();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.watch?.close();
  }

  /** What the mirror keeps of each record (see `keep`). */
  entries(): IterableIterator<T> {
    return this.items.values();
  }

  /** The keys with what the mirror keeps of each. */
  keyed(): IterableIterator<[string, T]> {
    return this.items.entries();
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  get size(): number {
    return this.items.size;
  }

  /** Lists and watches again now (e.g. after the owner learnt that the store is back). */
  refresh(): Promise<void> {
    return this.relist();
  }

  private async relist(): Promise<void> {
    if (this.closed) return;
    this.timer?.cancel();
    this.timer = undefined;
    const generation = ++this.generation;
    this.watch?.close();
    this.watch = undefined;
    const { store, prefix } = this.o;
    let listing;
    try {
      listing = await store.list(prefix);
    } catch (err) {
      this.failed(generation, err);
      return;
    }
    if (this.closed || generation !== this.generation) return;
    this.items.clear();
    const { keep } = this.o;
    if (keep !== false) for (const kv of listing.items) this.items.set(kv.key, keep ? keep(kv) : (kv as T));
    this.synced = true;
    this.retryMs = MIN_RETRY_MS;
    this.o.onHealth?.(true);
    this.o.onChange({ kind: "reset", items: listing.items });
    const from = listing.revision + 1;
    this.watch = store.watch(
      prefix,
      from,
      (e) => {
        if (generation !== this.generation) return;
        this.relistedForCompaction = false;
        this.apply(e);
      },
      (err) => {
        if (generation !== this.generation) return;
        if (isWatchCompacted(err)) this.compacted(generation, from, err.compactRevision);
        else {
          this.o.logger.debug("watch broke; listing again", { prefix, error: errorMessage(err) });
          this.failed(generation, err);
        }
      },
    );
  }

  /** One watch event into the content, and its onChange. */
  private apply(e: WatchEvent): void {
    if (e.type === "delete") {
      this.items.delete(e.key);
      this.o.onChange({ kind: "key", key: e.key, value: undefined });
      return;
    }
    const { keep } = this.o;
    const old = keep === undefined ? (this.items.get(e.key) as KeyValue | undefined) : undefined;
    const kv: KeyValue = {
      key: e.key,
      value: e.value,
      createRevision: old?.createRevision ?? e.modRevision,
      modRevision: e.modRevision,
      lease: old?.lease ?? "",
    };
    if (keep !== false) this.items.set(e.key, keep ? keep(kv) : (kv as T));
    this.o.onChange({ kind: "key", key: e.key, value: kv });
  }

  /** The watch's start revision was compacted: the store is fine, list again now (see the design note). */
  private compacted(generation: number, fromRevision: number, compactRevision: number): void {
    if (this.closed || generation !== this.generation) return;
    const { prefix, logger } = this.o;
    logger.info("the store compacted past this watch; listing again", {
      prefix,
      fromRevision,
      compactRevision,
    });
    this.watch?.close();
    this.watch = undefined;
    if (!this.relistedForCompaction) {
      this.relistedForCompaction = true;
      void this.relist();
      return;
    }
    this.schedule();
  }

  private failed(generation: number, err: unknown): void {
    if (this.closed || generation !== this.generation) return;
    this.relistedForCompaction = false;
    this.o.onHealth?.(false, errorMessage(err));
    this.watch?.close();
    this.watch = undefined;
    this.schedule();
  }

  /** Lists again after the back-off delay, which doubles up to MAX_RETRY_MS. */
  private schedule(): void {
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    this.timer = (this.o.clock ?? realClock).setTimeout(() => void this.relist(), delay);
  }
}
