/**
 * The IPAM's bookkeeping over the local state: pools are carved from the configured range (or
 * given by the user), addresses are the lowest free ones. Every method is synchronous (SQLite
 * writes), so each call is atomic with respect to the event loop and durable when it returns.
 * The ledger has one owner, IpamService, which lends it only inside its serialisation (see
 * ipam-service.ts): calls that span awaits (multi-host) never interleave with other writes.
 *
 * Replay (RequiresRequestReplay): when a new Docker engine starts talking to us (IpamDriver
 * GetCapabilities), every pool and address is marked "awaiting replay". During that window an exact
 * re-request of a marked pool or address succeeds (Docker re-reserving what it had); the window
 * closes at the first request that is not a replay, or after `replayWindowMs`. Outside the window
 * a request for a taken pool or address fails, so `--ip` never silently duplicates an address.
 */
import { WeaveError } from "../core/index.js";
import type { AddressRecord, IpamStore, NetworkReader, PoolRecord } from "../store/index.js";
import type { Family, Prefix } from "../core/index.js";
import {
  containsAddress,
  containsPrefix,
  formatAddress,
  formatPrefix,
  overlaps,
  parseAddress,
  parsePrefix,
} from "../core/index.js";
import { carveSubnet, isUsable, pickAddress } from "./allocate.js";
import { checkPoolSize } from "./pool-limits.js";

export const GATEWAY_REQUEST = "com.docker.network.gateway";
export const LOCAL_ADDRESS_SPACE = "LocalDefault";
export const GLOBAL_ADDRESS_SPACE = "GlobalDefault";

export interface IpamConfig {
  /** Range for IPv4 pools carved without --subnet. */
  range: Prefix;
  /** Length of carved IPv4 pools. */
  subnetBits: number;
  /** Range for IPv6 pools carved without --subnet (a ULA /48). */
  rangeV6: Prefix;
  subnetBitsV6: number;
  replayWindowMs: number;
}

export interface PoolRequest {
  addressSpace: string;
  pool: string;
  subPool: string;
  options: Record<string, string>;
  v6: boolean;
}

export interface AddressRequest {
  poolId: string;
  address: string;
  options: Record<string, string>;
}

/** Pools and addresses of one host; see the file header. Owned by IpamService. */
export class IpamLedger {
  private replayUntil = 0;
  /** Subnets (canonical) whose next release is the rollback of a creation the driver refused. */
  private readonly rollbacks = new Set<string>();
  /** Subnets granted again as a replay, and when: only those can have been granted twice. */
  private readonly replayGrants = new Map<string, number>();

  constructor(
    private readonly state: IpamStore & NetworkReader,
    private readonly config: IpamConfig,
    private readonly now: () => number,
  ) {
    // Marks left by a replay that was cut short by our own restart must not outlive it.
    this.state.clearReplayPending();
  }

  /** A new engine registered us: open the replay window. */
  beginReplay(): void {
    this.state.markAllReplayPending();
    this.replayUntil = this.now() + this.config.replayWindowMs;
  }

  /** Closes a window whose time is up before any replay mark is consulted. */
  private expireReplay(): void {
    if (this.replayUntil !== 0 && this.now() >= this.replayUntil) this.endReplayIfOver(false);
  }

  private endReplayIfOver(isReplay: boolean): void {
    if (this.replayUntil === 0) return;
    if (isReplay && this.now() < this.replayUntil) return;
    this.replayUntil = 0;
    this.state.clearReplayPending();
  }

  /**
   * Reserves a pool. `hostRoutes` are destinations a carved pool must not overlap.
   * Throws WEAVE_BAD_REQUEST, WEAVE_IPAM_POOL_OVERLAP or WEAVE_IPAM_EXHAUSTED.
   */
  requestPool(req: PoolRequest, hostRoutes: readonly Prefix[]): { poolId: string; pool: string } {
    const family: Family = req.v6 ? 6 : 4;
    this.expireReplay();
    const pools = this.state.listPools();
    if (req.pool === "") {
      if (req.subPool !== "") {
        throw new WeaveError("WEAVE_BAD_REQUEST", `An --ip-range ("${req.subPool}") needs a --subnet`);
      }
      this.endReplayIfOver(false);
      const range = family === 4 ? this.config.range : this.config.rangeV6;
      const bits = family === 4 ? this.config.subnetBits : this.config.subnetBitsV6;
      const taken = [...pools.map((p) => parsePrefix(p.pool)), ...hostRoutes.filter((r) => r.bits > 0)];
      const carved = carveSubnet(range, bits, taken);
      if (!carved) {
        throw new WeaveError(
          "WEAVE_IPAM_EXHAUSTED",
          `Cannot allocate a /${bits} subnet in "${formatPrefix(range)}": range exhausted (every subnet is in use or overlaps a host route); remove unused networks or set --ipalloc-range`,
        );
      }
      return this.savePool(req, carved, undefined);
    }

    const pool = parsePrefix(req.pool, { strict: true });
    if (pool.family !== family) {
      throw new WeaveError("WEAVE_BAD_REQUEST", `Subnet "${req.pool}" is not an IPv${family} subnet`);
    }
    let sub: Prefix | undefined;
    if (req.subPool !== "") {
      sub = parsePrefix(req.subPool, { strict: true });
      if (!containsPrefix(pool, sub)) {
        throw new WeaveError(
          "WEAVE_BAD_REQUEST",
          `IP range "${req.subPool}" is not inside subnet "${req.pool}"`,
        );
      }
    }
    const id = poolId(req.addressSpace, pool, sub);
    const same = pools.find((p) => p.id === id);
    if (same?.replayPending) {
      this.state.setPoolReplayed(id);
      this.replayGrants.set(same.pool, this.now());
      this.endReplayIfOver(true);
      return { poolId: id, pool: same.pool };
    }
    this.endReplayIfOver(false);
    checkPoolSize(pool);
    const clash = pools.find((p) => overlaps(parsePrefix(p.pool), pool));
    if (clash) {
      throw new WeaveError(
        "WEAVE_IPAM_POOL_OVERLAP",
        `Subnet "${formatPrefix(pool)}" overlaps subnet "${clash.pool}" of another weave network`,
      );
    }
    return this.savePool(req, pool, sub);
  }

  private savePool(
    req: PoolRequest,
    pool: Prefix,
    sub: Prefix | undefined,
  ): { poolId: string; pool: string } {
    const id = poolId(req.addressSpace, pool, sub);
    const record: PoolRecord = {
      id,
      family: pool.family,
      pool: formatPrefix(pool),
      subPool: sub ? formatPrefix(sub) : null,
      addressSpace: req.addressSpace,
      options: req.options,
      replayPending: false,
      createdAt: this.now(),
    };
    this.state.putPool(record);
    return { poolId: id, pool: record.pool };
  }

  /**
   * Re-creates a pool and its addresses from what Docker reports (state lost); idempotent.
   * Returns the PoolID, which is the one Docker stored, since IDs are derived from the subnets.
   */
  adoptPool(
    space: string,
    pool: string,
    subPool: string,
    gateway: string,
    addresses: readonly string[],
  ): string {
    const prefix = parsePrefix(pool);
    const sub = subPool ? parsePrefix(subPool) : undefined;
    const id = poolId(space, prefix, sub);
    this.state.transaction(() => {
      if (!this.state.getPool(id)) {
        this.state.putPool({
          id,
          family: prefix.family,
          pool: formatPrefix(prefix),
          subPool: sub ? formatPrefix(sub) : null,
          addressSpace: space,
          options: {},
          replayPending: false,
          createdAt: this.now(),
        });
      }
      const put = (a: string, kind: "gateway" | "endpoint") => {
        const text = formatAddress(parseAddress(a.split("/")[0] ?? ""));
        if (!this.state.getAddress(id, text)) {
          this.state.putAddress({
            poolId: id,
            address: text,
            kind,
            replayPending: false,
            createdAt: this.now(),
          });
        }
      };
      if (gateway) put(gateway, "gateway");
      for (const a of addresses) if (a) put(a, "endpoint");
    });
    return id;
  }

  /**
   * Frees a pool reconciliation found unused (does not touch the replay window), if it is still
   * the reservation it found (same creation time): one released and requested again since stays.
   */
  reclaimPool(found: Pick<PoolRecord, "id" | "createdAt">): void {
    if (this.state.getPool(found.id)?.createdAt === found.createdAt) this.state.deletePool(found.id);
  }

  /** Frees an address reconciliation found unused, if it is still that reservation (as reclaimPool). */
  reclaimAddress(found: Pick<AddressRecord, "poolId" | "address" | "createdAt">): void {
    const current = this.state.getAddress(found.poolId, found.address);
    if (current?.createdAt === found.createdAt) this.state.deleteAddress(found.poolId, found.address);
  }

  /**
   * Sets one option of pool `id` (multi-host binds a pool to its network's cluster ID this way).
   * Throws WEAVE_NOT_FOUND for an unknown pool.
   */
  setPoolOption(id: string, name: string, value: string): void {
    const pool = this.state.getPool(id);
    if (!pool) throw new WeaveError("WEAVE_NOT_FOUND", `Unknown address pool "${id}"`);
    this.state.putPool({ ...pool, options: { ...pool.options, [name]: value } });
  }

  /** Frees a pool and its addresses; succeeds for unknown pools. */
  releasePool(id: string): void {
    this.endReplayIfOver(false);
    const pool = this.state.getPool(id);
    if (pool && this.rollbacks.delete(pool.pool) && this.poolHeld(id)) return;
    this.state.deletePool(id);
  }

  /**
   * The driver refused a network because another network holds `pools` (the IPAM granted them
   * again in a replay window, where a duplicate cannot be told from Docker re-reserving them).
   * Docker's rollback that follows (ReleaseAddress of the gateway and aux addresses, ReleasePool)
   * must not take them from that network: those releases are ignored once each. Only a subnet
   * this IPAM granted as a replay within the window can be such a duplicate; any other clash
   * (say, with a network of another IPAM) protects nothing, or the first network's own removal
   * would later be ignored. (A plain ReleasePool cannot be refused on its own: Docker releases a
   * network's IPAM before the driver's DeleteNetwork, so a live record does not mean the release
   * is wrong.)
   */
  expectRollback(pools: readonly string[]): void {
    for (const p of pools) {
      let cidr: string;
      try {
        cidr = formatPrefix(parsePrefix(p));
      } catch {
        continue; // not a subnet: nothing of ours to protect
      }
      const grantedAt = this.replayGrants.get(cidr);
      this.replayGrants.delete(cidr);
      if (grantedAt !== undefined && this.now() - grantedAt <= this.config.replayWindowMs) {
        this.rollbacks.add(cidr);
      }
    }
  }

  /** True when pool `id`'s next release is a refused creation's rollback (see expectRollback). */
  isRollback(id: string): boolean {
    const pool = this.state.getPool(id);
    return pool !== undefined && this.rollbacks.has(pool.pool) && this.poolHeld(id);
  }

  /** True when a weave network on this host has pool `id`'s subnet. */
  private poolHeld(id: string): boolean {
    const pool = this.state.getPool(id);
    if (!pool) return false;
    return this.state
      .listNetworks()
      .some((n) => [...n.ipv4, ...n.ipv6].some((d) => samePrefix(d.Pool, pool.pool)));
  }

  /**
   * Reserves an address and returns it in CIDR form with the pool's length. An explicit address is
   * given exactly or the call fails; otherwise the lowest free usable address of the sub-pool, or,
   * when `within` is given (this host's address blocks in a cluster), of the first of those ranges
   * that has one.
   */
  requestAddress(req: AddressRequest, within?: readonly Prefix[]): { address: string } {
    const pool = this.state.getPool(req.poolId);
    if (!pool) throw new WeaveError("WEAVE_NOT_FOUND", `Unknown address pool "${req.poolId}"`);
    this.expireReplay();
    const prefix = parsePrefix(pool.pool);
    const isGateway = req.options["RequestAddressType"] === GATEWAY_REQUEST;
    const kind = isGateway ? "gateway" : "endpoint";

    let value: bigint;
    if (req.address !== "") {
      const addr = parseAddress(req.address);
      const what = isGateway ? "Gateway" : "Address";
      if (!containsAddress(prefix, addr)) {
        throw new WeaveError("WEAVE_BAD_REQUEST", `${what} "${req.address}" is not in subnet "${pool.pool}"`);
      }
      if (!isUsable(prefix, addr.value)) {
        throw new WeaveError(
          "WEAVE_BAD_REQUEST",
          `${what} "${req.address}" is the network or broadcast address of "${pool.pool}"`,
        );
      }
      value = addr.value;
      const text = formatAddress(addr);
      const existing = this.state.getAddress(pool.id, text);
      if (existing) {
        if (existing.replayPending) {
          this.state.setAddressReplayed(pool.id, text);
          this.endReplayIfOver(true);
          return { address: `${text}/${prefix.bits}` };
        }
        this.endReplayIfOver(false);
        throw new WeaveError(
          "WEAVE_IPAM_ADDRESS_IN_USE",
          `Address "${text}" is already in use in subnet "${pool.pool}"`,
        );
      }
      this.endReplayIfOver(true);
    } else {
      this.endReplayIfOver(false);
      const taken = new Set(this.state.listAddresses(pool.id).map((a) => parseAddress(a.address).value));
      const ranges = within ?? [isGateway || pool.subPool === null ? prefix : parsePrefix(pool.subPool)];
      let picked: bigint | undefined;
      for (const range of ranges) {
        picked = pickAddress(prefix, range, taken);
        if (picked !== undefined) break;
      }
      if (picked === undefined) {
        throw new WeaveError(
          "WEAVE_IPAM_EXHAUSTED",
          within
            ? `No free address in this host's blocks of "${pool.pool}"`
            : `Cannot allocate an address in "${pool.subPool ?? pool.pool}": pool exhausted`,
        );
      }
      value = picked;
    }
    const text = formatAddress({ family: prefix.family, value });
    this.state.putAddress({
      poolId: pool.id,
      address: text,
      kind,
      replayPending: false,
      createdAt: this.now(),
    });
    return { address: `${text}/${prefix.bits}` };
  }

  /**
   * Frees an address; succeeds when it is not allocated or the pool is gone. An address that an
   * endpoint of a network on this pool still holds is kept: Docker releases the address of every
   * CreateEndpoint that failed, including one the driver refused because another endpoint holds
   * the address (granted by a replay window), and freeing it would let the next container take it.
   */
  releaseAddress(poolIdValue: string, address: string): void {
    this.endReplayIfOver(false);
    if (address === "") return;
    let text: string;
    try {
      text = formatAddress(parseAddress(address.split("/")[0] ?? ""));
    } catch {
      throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IP address "${address}"`);
    }
    const pool = this.state.getPool(poolIdValue);
    if (pool && this.heldByNetwork(pool.pool, text, this.rollbacks.has(pool.pool))) return;
    this.state.deleteAddress(poolIdValue, text);
  }

  /**
   * True when a network whose subnet is `cidr` has the address `text` as an endpoint's address,
   * or, with `own` (a refused creation's rollback), as the gateway or an aux address of its record.
   */
  private heldByNetwork(cidr: string, text: string, own: boolean): boolean {
    const canonical = (value: string): string | undefined => {
      try {
        return formatAddress(parseAddress(value.split("/")[0] ?? ""));
      } catch {
        return undefined;
      }
    };
    for (const n of this.state.listNetworks()) {
      const data = [...n.ipv4, ...n.ipv6].filter((d) => samePrefix(d.Pool, cidr));
      if (data.length === 0) continue;
      for (const d of own ? data : []) {
        const mine = [d.Gateway ?? "", ...Object.values(d.AuxAddresses ?? {})];
        if (mine.some((a) => a !== "" && canonical(a) === text)) return true;
      }
      for (const ep of this.state.listEndpoints(n.id)) {
        if ([ep.ipv4, ep.ipv6].some((a) => a !== null && canonical(a) === text)) return true;
      }
    }
    return false;
  }
}

function samePrefix(a: string, b: string): boolean {
  try {
    return formatPrefix(parsePrefix(a)) === formatPrefix(parsePrefix(b));
  } catch {
    return false;
  }
}

/** The opaque PoolID Docker stores: address space, pool and sub-pool. */
export function poolId(space: string, pool: Prefix, sub: Prefix | undefined): string {
  return `${space}/${formatPrefix(pool)}${sub ? `/${formatPrefix(sub)}` : ""}`;
}
