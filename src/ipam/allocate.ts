/**
 * Pure allocation choices: which subnet to carve from a range, which address to give from a pool.
 * No I/O; the IPAM service feeds them what is taken.
 */
import type { Prefix } from "../core/index.js";
import { familyWidth, lastAddress, overlaps, usableRange } from "../core/index.js";

/**
 * The lowest subnet of length `bits` inside `range` that overlaps none of `taken`, or undefined
 * when the range is full. Skips past each overlapping prefix in one step, so the cost is
 * O(candidates skipped in jumps × taken), not O(size of range).
 */
export function carveSubnet(range: Prefix, bits: number, taken: readonly Prefix[]): Prefix | undefined {
  if (bits < range.bits || bits > familyWidth(range.family)) return undefined;
  const step = 1n << BigInt(familyWidth(range.family) - bits);
  const end = lastAddress(range);
  const relevant = taken.filter((t) => overlaps(t, range));
  let base = range.base;
  while (base + step - 1n <= end) {
    const candidate: Prefix = { family: range.family, base, bits };
    const hit = relevant.find((t) => overlaps(t, candidate));
    if (!hit) return candidate;
    // Jump to the first aligned candidate after the end of what we hit.
    const after = lastAddress(hit) + 1n;
    const aligned = ((after - range.base + step - 1n) / step) * step + range.base;
    base = aligned > base ? aligned : base + step;
  }
  return undefined;
}

/**
 * The lowest usable address of `within` (a pool or its sub-pool) not in `taken`, or undefined when
 * every usable address is taken. `pool` decides which addresses are usable (network/broadcast).
 */
export function pickAddress(pool: Prefix, within: Prefix, taken: ReadonlySet<bigint>): bigint | undefined {
  const usable = usableRange(pool);
  const first = within.base > usable.first ? within.base : usable.first;
  const withinLast = lastAddress(within);
  const last = withinLast < usable.last ? withinLast : usable.last;
  for (let v = first; v <= last; v++) {
    if (!taken.has(v)) return v;
  }
  return undefined;
}

/** True when `value` may be given to a host in `pool` (not its network or broadcast address). */
export function isUsable(pool: Prefix, value: bigint): boolean {
  const r = usableRange(pool);
  return value >= r.first && value <= r.last;
}
