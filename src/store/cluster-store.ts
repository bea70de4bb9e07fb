/**
 * The cluster store port: the few etcd v3 operations multi-host weave builds on (keys, compare-and-
 * swap, leases, prefix watches). Keys and values are strings; revisions are etcd's store revisions.
 * Implementations: EtcdStore (etcd's v3 HTTP gateway) and MemoryClusterStore (tests).
 *
 * Compaction (design note). etcd keeps the history of changes only back to its compaction revision.
 * A watch asked to start before it cannot replay what was dropped: it ends with WatchCompacted
 * (code WEAVE_STATE, with the revision asked for and the oldest one kept), and the owner must list
 * again (a fresh snapshot) and watch from that listing's revision + 1. A listing is one snapshot at
 * one revision, however many requests it takes.
 */
import { WeaveError } from "../core/index.js";

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Lease ID ("" when none). */
  lease: string;
}

export interface WatchEvent {
  type: "put" | "delete";
  key: string;
  /** "" for deletes. */
  value: string;
  modRevision: number;
}

export interface Watch {
  close(): void;
}

export interface PutOptions {
  /** Attach the key to this lease: it is deleted when the lease expires or is revoked. */
  lease?: string;
}

/** Every method rejects with WeaveError WEAVE_STATE (store answered an error) or WEAVE_TIMEOUT. */
export interface ClusterStore {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key under `prefix`, with the store revision the listing is consistent at. */
  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }>;
  /** Writes `key`; resolves with the new revision. */
  put(key: string, value: string, options?: PutOptions): Promise<number>;
  /** Deletes `key`; true when it existed. */
  delete(key: string): Promise<boolean>;
  /** Creates `key` only if it does not exist; true when this call created it. */
  create(key: string, value: string, options?: PutOptions): Promise<boolean>;
  /** Replaces `key` only if its modRevision is still `modRevision`; true when this call replaced it. */
  compareAndSwap(key: string, modRevision: number, value: string, options?: PutOptions): Promise<boolean>;
  /** Deletes `key` only if its modRevision is still `modRevision`. */
  compareAndDelete(key: string, modRevision: number): Promise<boolean>;
  /** A new lease of `ttlSeconds`; resolves with its ID. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Renews a lease; resolves with the TTL it has now, 0 when it has expired. */
  keepAlive(lease: string): Promise<number>;
  revokeLease(lease: string): Promise<void>;
  /**
   * Calls `onEvent` for every change under `prefix` after `fromRevision` (inclusive), in order;
   * `onError` when the watch breaks (the owner re-lists and watches again); with WatchCompacted when
   * `fromRevision` is older than the store keeps.
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): Watch;
  close(): Promise<void>;
}

/**
 * The error a watch ends with when its start revision was compacted: the changes since then are
 * gone, so the owner lists again rather than waiting for a retry (see the design note).
 */
export class WatchCompacted extends WeaveError {
  constructor(
    readonly prefix: string,
    /** The revision the watch asked to start at. */
    readonly fromRevision: number,
    /** The store's compaction revision: the oldest revision a watch may start at. */
    readonly compactRevision: number,
  ) {
    super(
      "WEAVE_STATE",
      `The store compacted past the watch of "${prefix}": it asked for revision ${fromRevision}, the oldest kept is ${compactRevision}`,
    );
  }
}

/** True when `err` ends a watch because its start revision was compacted. */
export function isWatchCompacted(err: unknown): err is WatchCompacted {
  return err instanceof WatchCompacted;
}

/** The end of the key range of a prefix (etcd's range_end): the prefix with its last byte plus one. */
export function prefixEnd(prefix: string): Buffer {
  const bytes = Buffer.from(prefix, "utf8");
  for (let i = bytes.length - 1; i >= 0; i--) {
    const b = bytes[i] ?? 0;
    if (b < 0xff) {
      const out = Buffer.from(bytes.subarray(0, i + 1));
      out[i] = b + 1;
      return out;
    }
  }
  return Buffer.from([0]);
}
