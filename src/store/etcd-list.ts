/**
 * EtcdStore's paged listing (design note). A prefix may hold 100,000 keys (1,000 hosts x 100
 * containers), too many for one answer. A listing reads `pageSize` keys at a time; each next page
 * starts just after the last key (its bytes plus a 0 byte) and is read at the first page's revision,
 * so the pages together are one snapshot, whatever is written meanwhile, and that revision is the
 * one returned (the owner watches from it + 1). If etcd compacts that revision away before the last
 * page (it answers "required revision has been compacted"), the listing starts over at a fresh
 * revision, LIST_ATTEMPTS times at most in all.
 */
import { WeaveError } from "../core/index.js";
import type { KeyValue } from "./cluster-store.js";
import { prefixEnd } from "./cluster-store.js";
import { b64, isCompactedAnswer } from "./etcd-wire.js";

/** A /v3/kv/range request body: the range, the page size, and the snapshot revision after the first page. */
export interface RangeBody {
  key: string;
  range_end: string;
  limit: string;
  revision?: string;
}

/** One page: its keys, the header revision and whether keys remain beyond it. */
export interface RangePage {
  items: KeyValue[];
  revision: number;
  more: boolean;
}

/** Listings started over when etcd compacts their revision away mid-way. */
export const LIST_ATTEMPTS = 3;

/**
 * Every key under `prefix` in key order, one snapshot at the revision returned, read by `range`
 * (one /v3/kv/range each) `pageSize` keys at a time. Rejects with what `range` rejects with (the
 * compaction error too after LIST_ATTEMPTS listings), or WEAVE_STATE for a page that says more keys
 * remain but holds none.
 */
export async function listPaged(
  range: (body: RangeBody) => Promise<RangePage>,
  prefix: string,
  pageSize: number,
): Promise<{ items: KeyValue[]; revision: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listOnce(range, prefix, pageSize);
    } catch (err) {
      if (attempt >= LIST_ATTEMPTS || !isCompactedAnswer(err)) throw err;
    }
  }
}

/** One listing: the first page fixes the revision, the next ones are read at it. */
async function listOnce(
  range: (body: RangeBody) => Promise<RangePage>,
  prefix: string,
  pageSize: number,
): Promise<{ items: KeyValue[]; revision: number }> {
  const rangeEnd = b64(prefixEnd(prefix));
  const limit = String(pageSize);
  const first = await range({ key: b64(prefix), range_end: rangeEnd, limit });
  const items = first.items;
  let page = first;
  while (page.more) {
    const last = page.items.at(-1);
    if (!last)
      throw new WeaveError(
        "WEAVE_STATE",
        `etcd answered a listing of "${prefix}" with more keys but none in the page`,
      );
    const key = b64(Buffer.concat([Buffer.from(last.key, "utf8"), Buffer.from([0])]));
    page = await range({ key, range_end: rangeEnd, limit, revision: String(first.revision) });
    for (const kv of page.items) items.push(kv); // No spread: a page may be large.
  }
  return { items, revision: first.revision };
}
