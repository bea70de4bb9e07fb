/**
 * The kernel's neighbour table limits (`net.ipv{4,6}.neigh.default.gc_thresh1/2/3`, by default
 * 128/512/1024) cap the neighbour entries of all network namespaces together: past gc_thresh3 an
 * entry cannot be added ("No buffer space available", moby/libnetwork#1522). Weave adds a permanent
 * entry per remote container address on its VXLAN devices, and containers resolve remote addresses
 * into the same table, so before programming, the limits are raised when weave's entries would take
 * more than half of gc_thresh3.
 *
 * Design note: the table is one per family for the whole kernel; its `default` sysctls exist only
 * in the initial network namespace (in another one they cannot be read, and nothing is done).
 * Linux 4.20 and later do not count permanent entries against gc_thresh3, but containers' own
 * entries still count. A value the administrator set higher is never lowered. The limits are read
 * the first time and on full passes; between them the values last read or written stand.
 */
import { errorMessage } from "../core/index.js";
import type { Logger } from "../core/index.js";
import type { SysctlPort } from "./sysctl.js";

export interface GcThresholds {
  thresh1: number;
  thresh2: number;
  thresh3: number;
}

export type NeighFamily = 4 | 6;

/** Neighbour entries weave needs, per family. */
export type NeighCounts = Record<NeighFamily, number>;

/** The keys of gc_thresh1, 2 and 3 of `family` (procps form). */
export function gcThreshKeys(family: NeighFamily): [string, string, string] {
  const key = (n: number): string => `net.ipv${family}.neigh.default.gc_thresh${n}`;
  return [key(1), key(2), key(3)];
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * The limits to set so that `needed` entries take at most half of gc_thresh3, or undefined when
 * `current` already allows that. gc_thresh3 becomes the next power of two at least twice `needed`,
 * gc_thresh2 half of it and gc_thresh1 an eighth (the kernel's default ratios); no value is
 * lowered, and thresh1 <= thresh2 <= thresh3 holds. Pure.
 */
export function raisedNeighLimits(needed: number, current: GcThresholds): GcThresholds | undefined {
  if (needed * 2 <= current.thresh3) return undefined;
  const t3 = nextPowerOfTwo(needed * 2);
  const thresh3 = Math.max(current.thresh3, current.thresh2, current.thresh1, t3);
  const thresh2 = Math.max(current.thresh2, current.thresh1, t3 / 2);
  const thresh1 = Math.max(current.thresh1, t3 / 8);
  return { thresh1, thresh2, thresh3 };
}

/** The thresholds of `family` in `values` (a sysctl read), or undefined when one is missing. */
function thresholdsOf(family: NeighFamily, values: Record<string, string>): GcThresholds | undefined {
  const [t1, t2, t3] = gcThreshKeys(family).map((k) => Number.parseInt(values[k] ?? "", 10));
  if (t1 === undefined || t2 === undefined || t3 === undefined) return undefined;
  if (![t1, t2, t3].every(Number.isSafeInteger)) return undefined;
  return { thresh1: t1, thresh2: t2, thresh3: t3 };
}

/** Keeps the kernel's neighbour table limits above what weave needs (see the design note). */
export class NeighLimits {
  /** Per family: the limits last read or written; undefined when unknown or not to be touched. */
  private known = new Map<NeighFamily, GcThresholds | undefined>();
  private unreadableLogged = false;

  constructor(private readonly o: { sysctl: SysctlPort; logger: Logger }) {}

  /**
   * Raises the limits of each family whose `needed` entries would take more than half of its
   * gc_thresh3, logging old and new values at info. Reads the limits when `full` or the first time.
   * Never rejects: a limit that cannot be read or written is logged and left alone until the next
   * full pass.
   */
  async ensure(needed: NeighCounts, full: boolean): Promise<void> {
    if (full || this.known.size === 0) await this.readAll();
    for (const family of [4, 6] as const) {
      const current = this.known.get(family);
      const next = current && raisedNeighLimits(needed[family], current);
      if (!current || !next) continue;
      await this.write(family, current, next, needed[family]);
    }
  }

  private async readAll(): Promise<void> {
    let values: Record<string, string> = {};
    try {
      values = await this.o.sysctl.read([...gcThreshKeys(4), ...gcThreshKeys(6)]);
    } catch (err) {
      this.o.logger.warning("cannot read the kernel's neighbour table limits", { error: errorMessage(err) });
    }
    for (const family of [4, 6] as const) this.known.set(family, thresholdsOf(family, values));
    if (this.known.get(4) === undefined && !this.unreadableLogged) {
      this.unreadableLogged = true;
      this.o.logger.debug(
        "the kernel's neighbour table limits are not readable here (another network namespace?)",
      );
    }
  }

  private async write(
    family: NeighFamily,
    old: GcThresholds,
    next: GcThresholds,
    needed: number,
  ): Promise<void> {
    const keys = gcThreshKeys(family);
    const values = ([1, 2, 3] as const).flatMap((n, i) => {
      const key = keys[i] as string;
      const value = next[`thresh${n}`];
      return value !== old[`thresh${n}`] ? [[key, String(value)] as const] : [];
    });
    try {
      await this.o.sysctl.write(values);
      this.known.set(family, next);
      this.o.logger.info("raised the kernel's neighbour table limits", {
        family: `ipv${family}`,
        needed,
        old: `${old.thresh1}/${old.thresh2}/${old.thresh3}`,
        new: `${next.thresh1}/${next.thresh2}/${next.thresh3}`,
        why: `weave programs ${needed} neighbour entries, more than half of gc_thresh3 ${old.thresh3}`,
      });
    } catch (err) {
      this.known.set(family, undefined);
      this.o.logger.warning("cannot raise the kernel's neighbour table limits", {
        family: `ipv${family}`,
        needed,
        error: errorMessage(err),
      });
    }
  }
}

/** The neighbour entries `networks` program, per family (one per endpoint address). Pure. */
export function neighCounts(
  networks: readonly { endpoints: readonly { ipv4?: string; ipv6?: string }[] }[],
): NeighCounts {
  const counts: NeighCounts = { 4: 0, 6: 0 };
  for (const n of networks) {
    for (const ep of n.endpoints) {
      if (ep.ipv4 !== undefined) counts[4]++;
      if (ep.ipv6 !== undefined) counts[6]++;
    }
  }
  return counts;
}
