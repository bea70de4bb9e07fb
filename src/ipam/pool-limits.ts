/**
 * Which subnets weave's IPAM accepts for a network (`--subnet`). Pure.
 *
 * IPv4 /8 to /30: a /30 is the smallest subnet that still holds a gateway and one container
 * (its network and broadcast addresses are never given out); /31 and /32 hold no network at all.
 * A /8 is the largest private block (10.0.0.0/8); anything larger reaches into public space and
 * would make every later subnet overlap it. IPv6 /48 to /126: a /48 is what weave's own ULA range
 * is (and what a site usually gets); a /126 holds a gateway and two containers (the subnet-router
 * anycast address is never given out); /127 and /128 are point-to-point or host routes.
 *
 * Pools that already exist (Docker's replay after it restarts) are not checked again, and the
 * network driver does not apply these limits: with Docker's own IPAM, Docker decides (its null
 * IPAM even hands out 0.0.0.0/0).
 */
import { WeaveError } from "../core/index.js";
import type { Family, Prefix } from "../core/index.js";
import { formatPrefix } from "../core/index.js";

/** Accepted prefix lengths of a network's subnet, per family: `largest` is the shortest length. */
export const POOL_PREFIX_LIMITS: Readonly<Record<Family, { largest: number; smallest: number }>> = {
  4: { largest: 8, smallest: 30 },
  6: { largest: 48, smallest: 126 },
};

/**
 * Throws WEAVE_BAD_REQUEST, naming the field, when `pool` is too large or too small to be the
 * subnet of a network (see POOL_PREFIX_LIMITS).
 */
export function checkPoolSize(pool: Prefix, field = "Pool (--subnet)"): void {
  const { largest, smallest } = POOL_PREFIX_LIMITS[pool.family];
  if (pool.bits >= largest && pool.bits <= smallest) return;
  const what = pool.bits < largest ? "too large" : "too small";
  throw new WeaveError(
    "WEAVE_BAD_REQUEST",
    `Invalid ${field} "${formatPrefix(pool)}": ${what}; weave accepts IPv${pool.family} subnets from /${largest} to /${smallest}`,
  );
}
