/**
 * A local mirror of every key under one prefix of the cluster store: listed once, then kept up to
 * date by a watch from the listing's revision. When the watch breaks (store unreachable, revision
 * compacted) the mirror keeps what it has, so that answers go on from the last known state, and
 * lists and watches again with a growing delay (0.5 s to 5 s). A successful re-list replaces the
 * content as a whole, so deletes missed while disconnected are noticed.
 */
import type { Clock, Logger, Timer } from "../core/index.js";
import { errorMessage, realClock } from "../core/index.js";
import type { ClusterStore, KeyValue, Watch } from "../store/index.js";

export interface MirrorOptions {
  store: ClusterStore;
  prefix: string;
  logger: Logger;
  /** Called after every change of the content (a listing or a watch event). */
  onChange: () => void;
  /** Reports whether the store answered (true) or failed (false). */
  onHealth?: (ok: boolean, error?: string) => void;
  /** The retry timer's clock (default: the real clock). */
  clock?: Clock | undefined;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;

export class PrefixMirror {
  private readonly items = new Map<string, KeyValue>();
  private watch: Watch | undefined;
  private timer: Timer | undefined;
  private retryMs = MIN_RETRY_MS;
  private closed = false;
  private generation = 0;
  /** True once a listing has succeeded. */
  synced = false;

  constructor(private readonly o: MirrorOptions) {}

  start(): void {
    void this.relist();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.watch?.close();
  }

  /** The mirrored keys and values. */
  entries(): IterableIterator<KeyValue> {
    return this.items.values();
  }

  get(key: string): KeyValue | undefined {
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
    const { store, prefix, logger } = this.o;
    let listing;
    try {
      listing = await store.list(prefix);
    } catch (err) {
      this.failed(generation, err);
      return;
    }
    if (this.closed || generation !== this.generation) return;
    this.items.clear();
    for (const kv of listing.items) this.items.set(kv.key, kv);
    this.synced = true;
    this.retryMs = MIN_RETRY_MS;
    this.o.onHealth?.(true);
    this.o.onChange();
    this.watch = store.watch(
      prefix,
      listing.revision + 1,
      (e) => {
        if (generation !== this.generation) return;
        if (e.type === "delete") this.items.delete(e.key);
        else {
          const old = this.items.get(e.key);
          this.items.set(e.key, {
            key: e.key,
            value: e.value,
            createRevision: old?.createRevision ?? e.modRevision,
            modRevision: e.modRevision,
            lease: old?.lease ?? "",
          });
        }
        this.o.onChange();
      },
      (err) => {
        if (generation !== this.generation) return;
        logger.debug("watch broke; listing again", { prefix, error: errorMessage(err) });
        this.failed(generation, err);
      },
    );
  }

  private failed(generation: number, err: unknown): void {
    if (this.closed || generation !== this.generation) return;
    this.o.onHealth?.(false, errorMessage(err));
    this.watch?.close();
    this.watch = undefined;
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    this.timer = (this.o.clock ?? realClock).setTimeout(() => void this.relist(), delay);
  }
}
