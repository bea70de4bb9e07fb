/** IPAM use per pool, for the `weave_ipam_pool_*` gauges. Pure. */
import { containsAddress, parseAddress, parsePrefix, usableRange } from "../ipam/index.js";
import type { AddressRecord, PoolRecord } from "../store/index.js";

export interface PoolUsage {
  /** The pool's subnet, e.g. `10.32.0.0/24`. */
  pool: string;
  /** Addresses taken in the allocatable range (endpoints, and the gateway when it lies there). */
  allocated: number;
  /**
   * Usable addresses of the allocatable range (the `--ip-range` when given, else the subnet).
   * A Number: exact up to 2^53, rounded above (an IPv6 /64 gives 18446744073709552000).
   */
  size: number;
}

/**
 * Use of each pool: addresses allocated in its allocatable range and that range's size. Pools
 * with the same subnet (in different address spaces) are added up. Records that do not parse
 * are skipped (a metric never throws at scrape time).
 */
export function poolUsage(pools: readonly PoolRecord[], addresses: readonly AddressRecord[]): PoolUsage[] {
  const byPool = new Map<string, AddressRecord[]>();
  for (const a of addresses) {
    const list = byPool.get(a.poolId) ?? [];
    list.push(a);
    byPool.set(a.poolId, list);
  }
  const out = new Map<string, PoolUsage>();
  for (const p of pools) {
    let range;
    try {
      range = parsePrefix(p.subPool ?? p.pool);
    } catch {
      continue;
    }
    const { first, last } = usableRange(range);
    let allocated = 0;
    for (const a of byPool.get(p.id) ?? []) {
      try {
        const addr = parseAddress(a.address.split("/")[0] ?? "");
        if (containsAddress(range, addr) && addr.value >= first && addr.value <= last) allocated++;
      } catch {
        // not an address: not counted
      }
    }
    const prev = out.get(p.pool);
    const size = Number(last - first + 1n);
    out.set(p.pool, {
      pool: p.pool,
      allocated: (prev?.allocated ?? 0) + allocated,
      size: (prev?.size ?? 0) + size,
    });
  }
  return [...out.values()];
}
