/**
 * Address blocks of multi-host IPAM: a network's pool is cut into equal, aligned blocks; a host
 * claims whole blocks in the cluster store and allocates inside its own blocks without asking
 * anyone. The grid is derived from the allocation range alone (the --ip-range if any, else the
 * subnet), so every host computes the same blocks. Pure.
 */
import type { Prefix } from "../core/index.js";
import { familyWidth, netmask } from "../core/index.js";
import { carveSubnet } from "./allocate.js";

/** Smallest block length (largest block) weave uses: /26 (64 addresses), /122 for IPv6. */
const BASE_BITS = { 4: 26, 6: 122 } as const;

/**
 * The block length for an allocation range: at least 16 blocks in the range (so that many hosts
 * can share a small subnet), at most 64 addresses per block, at least 4 addresses per block; a range
 * smaller than that is one block.
 */
export function blockBits(range: Prefix): number {
  const width = familyWidth(range.family);
  const wanted = Math.max(range.bits + 4, BASE_BITS[range.family]);
  return Math.min(wanted, Math.max(range.bits, width - 2));
}

/** The block of `range`'s grid that contains `value` (an address inside the pool). */
export function blockOf(range: Prefix, value: bigint): Prefix {
  const bits = blockBits(range);
  return { family: range.family, base: value & netmask(range.family, bits), bits };
}

/** The lowest block of `range` that none of `claimed` overlaps, or undefined. */
export function freeBlock(range: Prefix, claimed: readonly Prefix[]): Prefix | undefined {
  return carveSubnet(range, blockBits(range), claimed);
}
