/**
 * Docker's call sequences for the model-based plugin test (plugin-model.test.ts): network create,
 * run, stop, network rm, a stray IpamDriver.GetCapabilities and a retried CreateEndpoint, each
 * sent over HTTP the way dockerd sends it and checked against the model.
 */
import assert from "node:assert/strict";
import type fc from "fast-check";
import type { Prefix } from "../../../src/ipam/index.js";
import {
  formatAddress,
  formatPrefix,
  overlaps,
  parseAddress,
  parsePrefix,
  usableRange,
} from "../../../src/ipam/index.js";
import type { LocalState } from "../../../src/store/index.js";
import type { ModelServer, Reply } from "./model-stack.js";
import { errorOf, text } from "./model-stack.js";

export interface Pool {
  id: string;
  prefix: Prefix;
  gateway: bigint;
}
export interface Net {
  id: string;
  v4: Pool;
  v6: Pool | undefined;
  aux: bigint[];
}
export interface Ep {
  id: string;
  net: Net;
  v4: string;
  v6: string | undefined;
}
export interface Model {
  nets: Net[];
  eps: Ep[];
  seq: number;
  /** A stray GetCapabilities happened: the IPAM's replay window may be open. */
  replay: boolean;
}
export interface Real {
  server: ModelServer;
  state: LocalState;
}
export type Cmd = fc.AsyncCommand<Model, Real>;

const RANGE = parsePrefix("10.32.0.0/12");
/** A Docker-like 64-hex ID, unique in its first 9 characters (bridge and veth names use them). */
export const newId = (m: Model, tag: string): string =>
  `${(++m.seq).toString(16).padStart(8, "0")}${tag}`.padEnd(64, "e");
export const cidr = (p: Prefix, value: bigint): string =>
  `${formatAddress({ family: p.family, value })}/${p.bits}`;
export const pick = <T>(items: readonly T[], i: number): T | undefined =>
  items[i % Math.max(items.length, 1)];

export function ok(r: Reply, what: string): void {
  assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.json)}`);
  assert.equal(errorOf(r), undefined, `${what}: ${JSON.stringify(r.json)}`);
}

/** A refusal: 400 (invalid request) or 200 with Err/Error, whose message matches `message`. */
export function refused(r: Reply, message: RegExp, what: string): void {
  const err = errorOf(r);
  assert.ok(err !== undefined, `${what} should be refused: ${JSON.stringify(r.json)}`);
  assert.match(err, message, what);
}

/** Addresses of a network the model knows are taken: gateway, aux, endpoints. */
function taken(m: Model, n: Net): Set<bigint> {
  const s = new Set<bigint>([n.v4.gateway, ...n.aux]);
  for (const e of m.eps) if (e.net === n) s.add(parseAddress(e.v4.split("/")[0] ?? "").value);
  return s;
}

export function freeAddress(m: Model, n: Net, offset: number): bigint | undefined {
  const { first, last } = usableRange(n.v4.prefix);
  const size = last - first + 1n;
  const used = taken(m, n);
  for (let i = 0n; i < size && i < 64n; i++) {
    const v = first + ((BigInt(offset) + i) % size);
    if (!used.has(v)) return v;
  }
  return undefined;
}

async function requestPool(r: Real, pool: string, v6: boolean): Promise<Reply> {
  return r.server.post("IpamDriver.RequestPool", {
    AddressSpace: "LocalDefault",
    Pool: pool,
    SubPool: "",
    Options: {},
    V6: v6,
  });
}

async function gatewayOf(r: Real, poolId: string, prefix: Prefix): Promise<Pool> {
  const gw = await r.server.post("IpamDriver.RequestAddress", {
    PoolID: poolId,
    Address: "",
    Options: { RequestAddressType: "com.docker.network.gateway" },
  });
  ok(gw, "gateway RequestAddress");
  return { id: poolId, prefix, gateway: parseAddress(text(gw, "Address").split("/")[0] ?? "").value };
}

/** docker network create [--subnet S] [--ipv6] [--aux-address]: the IPAM calls, then CreateNetwork. */
export class CreateNetwork implements Cmd {
  constructor(
    readonly subnet: string,
    readonly v6: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const p = this.subnet === "" ? undefined : parsePrefix(this.subnet);
    // In a replay window the IPAM gives an existing pool again (Docker re-reserving it cannot be
    // told apart); the driver refuses the network, and Docker's releases keep what the first has.
    if (m.replay && p && m.nets.some((n) => n.v4.prefix.base === p.base && n.v4.prefix.bits === p.bits))
      return this.sameSubnetAfterReplay(m, r, p);
    const res = await requestPool(r, this.subnet, false);
    if (p) {
      if (p.bits < 8 || p.bits > 30)
        return refused(res, /Pool \(--subnet\) ".*": too (large|small)/, this.toString());
      if (m.nets.some((n) => overlaps(n.v4.prefix, p))) return refused(res, /overlaps/, this.toString());
    } else if (m.nets.some((n) => n.v4.prefix.bits <= RANGE.bits && overlaps(n.v4.prefix, RANGE))) {
      return refused(res, /exhausted/, this.toString());
    }
    ok(res, this.toString());
    const prefix = parsePrefix(text(res, "Pool"));
    const v4 = await gatewayOf(r, text(res, "PoolID"), prefix);
    const aux: bigint[] = [];
    const ipv4: Record<string, unknown> = {
      AddressSpace: "LocalDefault",
      Pool: cidr(prefix, prefix.base),
      Gateway: cidr(prefix, v4.gateway),
    };
    if (prefix.bits <= 28) {
      const last = usableRange(prefix).last;
      ok(
        await r.server.post("IpamDriver.RequestAddress", {
          PoolID: v4.id,
          Address: formatAddress({ family: 4, value: last }),
          Options: null,
        }),
        "aux",
      );
      aux.push(last);
      ipv4["AuxAddresses"] = { reserved: cidr(prefix, last) };
    }
    let v6: Pool | undefined;
    if (this.v6) {
      const p6 = await requestPool(r, "", true);
      ok(p6, "IPv6 RequestPool");
      v6 = await gatewayOf(r, text(p6, "PoolID"), parsePrefix(text(p6, "Pool")));
    }
    const id = newId(m, "a");
    const ipv6 = v6
      ? [
          {
            AddressSpace: "LocalDefault",
            Pool: cidr(v6.prefix, v6.prefix.base),
            Gateway: cidr(v6.prefix, v6.gateway),
          },
        ]
      : [];
    const created = await r.server.post("NetworkDriver.CreateNetwork", {
      NetworkID: id,
      Options: { "com.docker.network.enable_ipv6": this.v6, "com.docker.network.generic": {} },
      IPv4Data: [ipv4],
      IPv6Data: ipv6,
    });
    ok(created, "CreateNetwork");
    m.nets.push({ id, v4, v6, aux });
  }
  toString = (): string => `CreateNetwork(${this.subnet || "auto"}${this.v6 ? ", ipv6" : ""})`;

  /**
   * The subnet of an existing network asked for again in a replay window: the IPAM may grant the
   * pool and its gateway (a replay), the driver must refuse the network, and Docker's rollback
   * (ReleaseAddress of the gateway, ReleasePool) must leave the first network all it had.
   */
  async sameSubnetAfterReplay(m: Model, r: Real, p: Prefix): Promise<void> {
    const res = await requestPool(r, this.subnet, false);
    if (errorOf(res) !== undefined) return refused(res, /overlaps/, this.toString());
    const poolId = text(res, "PoolID");
    const gw = await r.server.post("IpamDriver.RequestAddress", {
      PoolID: poolId,
      Address: "",
      Options: { RequestAddressType: "com.docker.network.gateway" },
    });
    const gateway = errorOf(gw) === undefined ? text(gw, "Address") : undefined;
    const created = await r.server.post("NetworkDriver.CreateNetwork", {
      NetworkID: newId(m, "d"),
      Options: { "com.docker.network.generic": {} },
      IPv4Data: [
        { AddressSpace: "LocalDefault", Pool: cidr(p, p.base), Gateway: gateway ?? cidr(p, p.base + 1n) },
      ],
      IPv6Data: [],
    });
    refused(created, /overlaps subnet .* of weave network/, `${this.toString()} after a replay`);
    if (gateway !== undefined)
      ok(await r.server.post("IpamDriver.ReleaseAddress", { PoolID: poolId, Address: gateway }), "release");
    ok(await r.server.post("IpamDriver.ReleasePool", { PoolID: poolId }), "ReleasePool");
    const first = m.nets.find((n) => n.v4.prefix.base === p.base && n.v4.prefix.bits === p.bits);
    const firstGw = first && formatAddress({ family: 4, value: first.v4.gateway });
    assert.ok(first && r.state.getPool(first.v4.id), "the first network keeps its pool");
    assert.ok(first && firstGw && r.state.getAddress(first.v4.id, firstGw), "and its gateway address");
  }
}

/** docker run [--ip]: RequestAddress (v4, v6), CreateEndpoint, Join; Docker's rollback on failure. */
export class Run implements Cmd {
  constructor(
    readonly net: number,
    readonly mode: "auto" | "free" | "taken",
    readonly offset: number,
  ) {}
  check = (m: Model): boolean => m.nets.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const n = pick(m.nets, this.net);
    if (!n) return;
    let want = "";
    if (this.mode === "free") {
      const v = freeAddress(m, n, this.offset);
      if (v === undefined) return;
      want = formatAddress({ family: 4, value: v });
    } else if (this.mode === "taken") {
      const other = pick(
        m.eps.filter((e) => e.net === n),
        this.offset,
      );
      if (!other) return;
      want = other.v4.split("/")[0] ?? "";
    }
    const a4 = await r.server.post("IpamDriver.RequestAddress", {
      PoolID: n.v4.id,
      Address: want,
      Options: null,
    });
    if (errorOf(a4) !== undefined) {
      if (this.mode === "taken") return refused(a4, /already in use/, this.toString());
      if (this.mode === "auto" && freeAddress(m, n, 0) === undefined)
        return refused(a4, /exhausted/, this.toString());
      return ok(a4, this.toString());
    }
    const v4 = text(a4, "Address");
    const a6 = n.v6
      ? await r.server.post("IpamDriver.RequestAddress", { PoolID: n.v6.id, Address: "", Options: null })
      : undefined;
    if (a6) ok(a6, "IPv6 RequestAddress");
    const v6 = a6 ? text(a6, "Address") : undefined;
    const id = newId(m, "b");
    const ep = await r.server.post("NetworkDriver.CreateEndpoint", {
      NetworkID: n.id,
      EndpointID: id,
      Interface: { Address: v4, AddressIPv6: v6 ?? "", MacAddress: "" },
      Options: {},
    });
    if (this.mode === "taken") {
      // The IPAM granted a held address (a stray GetCapabilities opened its replay window).
      refused(ep, /Interface\.Address ".*" is already in use/, this.toString());
      const release = (pool: string, address: string) =>
        r.server.post("IpamDriver.ReleaseAddress", { PoolID: pool, Address: address.split("/")[0] });
      ok(await release(n.v4.id, v4), "rollback ReleaseAddress");
      if (n.v6 && v6) ok(await release(n.v6.id, v6), "rollback ReleaseAddress v6");
      return;
    }
    ok(ep, this.toString());
    ok(
      await r.server.post("NetworkDriver.Join", {
        NetworkID: n.id,
        EndpointID: id,
        SandboxKey: `/var/run/docker/netns/${id.slice(0, 12)}`,
        Options: {},
      }),
      "Join",
    );
    m.eps.push({ id, net: n, v4, v6 });
  }
  toString = (): string => `Run(${this.net}, ${this.mode}, ${this.offset})`;
}

/** The reported bug: a stray GetCapabilities, then docker run --ip with a running container's address. */
export class DuplicateAfterReplay implements Cmd {
  constructor(
    readonly net: number,
    readonly ep: number,
  ) {}
  check = (m: Model): boolean => m.eps.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    await new StrayCapabilities().run(m, r);
    const withEps = m.nets.filter((n) => m.eps.some((e) => e.net === n));
    await new Run(m.nets.indexOf(pick(withEps, this.net) ?? m.nets[0]!), "taken", this.ep).run(m, r);
  }
  toString = (): string => `DuplicateAfterReplay(${this.net}, ${this.ep})`;
}

/** docker stop: Leave, DeleteEndpoint, ReleaseAddress; the address is free again. */
export class Stop implements Cmd {
  constructor(readonly ep: number) {}
  check = (m: Model): boolean => m.eps.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const e = pick(m.eps, this.ep);
    if (!e) return;
    const ref = { NetworkID: e.net.id, EndpointID: e.id };
    ok(await r.server.post("NetworkDriver.Leave", ref), "Leave");
    ok(await r.server.post("NetworkDriver.DeleteEndpoint", ref), "DeleteEndpoint");
    const v4 = e.v4.split("/")[0] ?? "";
    ok(
      await r.server.post("IpamDriver.ReleaseAddress", { PoolID: e.net.v4.id, Address: v4 }),
      "ReleaseAddress",
    );
    if (e.v6 && e.net.v6) {
      ok(
        await r.server.post("IpamDriver.ReleaseAddress", {
          PoolID: e.net.v6.id,
          Address: e.v6.split("/")[0],
        }),
        "ReleaseAddress v6",
      );
    }
    m.eps = m.eps.filter((x) => x !== e);
    assert.equal(r.state.getAddress(e.net.v4.id, v4), undefined, `${v4} is free after stop`);
  }
  toString = (): string => `Stop(${this.ep})`;
}

/** docker network rm (no endpoints left): ReleaseAddress gateway/aux, ReleasePool, DeleteNetwork. */
export class RemoveNetwork implements Cmd {
  constructor(readonly net: number) {}
  check = (m: Model): boolean => m.nets.some((n) => !m.eps.some((e) => e.net === n));
  async run(m: Model, r: Real): Promise<void> {
    const n = pick(
      m.nets.filter((x) => !m.eps.some((e) => e.net === x)),
      this.net,
    );
    if (!n) return;
    for (const p of [n.v4, ...(n.v6 ? [n.v6] : [])]) {
      const gw = formatAddress({ family: p.prefix.family, value: p.gateway });
      ok(await r.server.post("IpamDriver.ReleaseAddress", { PoolID: p.id, Address: gw }), "release gateway");
    }
    for (const a of n.aux) {
      ok(
        await r.server.post("IpamDriver.ReleaseAddress", {
          PoolID: n.v4.id,
          Address: formatAddress({ family: 4, value: a }),
        }),
        "release aux",
      );
    }
    for (const p of [n.v4, ...(n.v6 ? [n.v6] : [])])
      ok(await r.server.post("IpamDriver.ReleasePool", { PoolID: p.id }), "ReleasePool");
    ok(await r.server.post("NetworkDriver.DeleteNetwork", { NetworkID: n.id }), "DeleteNetwork");
    m.nets = m.nets.filter((x) => x !== n);
  }
  toString = (): string => `RemoveNetwork(${this.net})`;
}

/** A stray IpamDriver.GetCapabilities (opens the IPAM's replay window). */
export class StrayCapabilities implements Cmd {
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    m.replay = true;
    const res = await r.server.post("IpamDriver.GetCapabilities");
    ok(res, "GetCapabilities");
    assert.equal(res.json["RequiresRequestReplay"], true);
  }
  toString = (): string => "StrayCapabilities";
}

/** A stray GetCapabilities, then `docker network create --subnet` of an existing network's subnet. */
export class SubnetAgainAfterReplay implements Cmd {
  constructor(readonly net: number) {}
  check = (m: Model): boolean => m.nets.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const n = pick(m.nets, this.net);
    if (!n) return;
    await new StrayCapabilities().run(m, r);
    const subnet = formatPrefix(n.v4.prefix);
    await new CreateNetwork(subnet, false).sameSubnetAfterReplay(m, r, n.v4.prefix);
  }
  toString = (): string => `SubnetAgainAfterReplay(${this.net})`;
}

/** CreateEndpoint sent again for a running endpoint (same ID, same addresses): still fine. */
export class RetryCreateEndpoint implements Cmd {
  constructor(readonly ep: number) {}
  check = (m: Model): boolean => m.eps.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const e = pick(m.eps, this.ep);
    if (!e) return;
    const res = await r.server.post("NetworkDriver.CreateEndpoint", {
      NetworkID: e.net.id,
      EndpointID: e.id,
      Interface: { Address: e.v4, AddressIPv6: e.v6 ?? "", MacAddress: "" },
      Options: {},
    });
    ok(res, this.toString());
  }
  toString = (): string => `RetryCreateEndpoint(${this.ep})`;
}
