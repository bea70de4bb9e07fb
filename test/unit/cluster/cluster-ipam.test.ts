import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers/promises";
import { ClusterIpam, StoreHealth } from "../../../src/cluster/index.js";
import { CLUSTER_ID_OPTION } from "../../../src/store/index.js";
import { silentLogger, WeaveError, isWeaveError } from "../../../src/core/index.js";
import type { ClusterStore } from "../../../src/store/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";
import {
  blockOf,
  blockBits,
  containsAddress,
  IpamService,
  parseAddress,
  parsePrefix,
} from "../../../src/ipam/index.js";

/** A store that can be made unreachable: every call then fails as a lost connection does. */
function switchable(inner: ClusterStore): { store: ClusterStore; down: { value: boolean } } {
  const down = { value: false };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (down.value)
          return Promise.reject(new WeaveError("WEAVE_TIMEOUT", "Cannot reach etcd: ECONNREFUSED"));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, down };
}

const NO_ROUTES = async () => [];

let ids = 0;
function host(name: string, store: ClusterStore, shared: Map<string, Set<string>> = new Map()) {
  const state = openSqliteState(":memory:");
  const ipam = new IpamService(
    state,
    {
      range: parsePrefix("10.32.0.0/16"),
      subnetBits: 24,
      rangeV6: parsePrefix("fd00:1::/48"),
      subnetBitsV6: 64,
      replayWindowMs: 1_000,
    },
    () => Date.now(),
  );
  const cluster = new ClusterIpam({
    ipam,
    state,
    store,
    health: new StoreHealth(silentLogger, () => Date.now(), "etcd://test"),
    host: name,
    now: () => Date.now(),
    logger: silentLogger,
    sharedAddresses: (cid) => shared.get(cid) ?? new Set(),
    isPublished: () => true,
    newId: () => (++ids).toString(16).padStart(16, "0"),
  });
  return { name, state, ipam, cluster };
}

const pool = (p: string, options: Record<string, string> = {}) => ({
  addressSpace: "LocalDefault",
  pool: p,
  subPool: "",
  options,
  v6: false,
});

void describe("ClusterIpam", () => {
  void it("reserves subnets cluster-wide: carved subnets differ across hosts, an overlapping --subnet is refused", async () => {
    const store = new MemoryClusterStore();
    const [a, b] = [host("a", store), host("b", store)];
    const pa = await a.cluster.requestPool(pool(""), NO_ROUTES);
    const pb = await b.cluster.requestPool(pool(""), NO_ROUTES);
    assert.notEqual(pa.pool, pb.pool);
    await assert.rejects(
      b.cluster.requestPool(pool("10.32.0.0/16"), NO_ROUTES),
      (err: unknown) => isWeaveError(err, "WEAVE_IPAM_POOL_OVERLAP") && /created on host a/.test(err.message),
    );
    assert.equal(b.state.listPools().length, 1, "the refused pool left nothing behind");
  });

  void it("binds a replicated network's pool to its cluster ID and refuses another ID", async () => {
    const store = new MemoryClusterStore();
    const [a, b] = [host("a", store), host("b", store)];
    const res = await a.cluster.requestPool(pool("10.40.0.0/24"), NO_ROUTES);
    const cid = a.state.getPool(res.poolId)?.options[CLUSTER_ID_OPTION] ?? "";
    assert.match(cid, /^[0-9a-f]{16}$/);
    const bound = await b.cluster.requestPool(pool("10.40.0.0/24", { [CLUSTER_ID_OPTION]: cid }), NO_ROUTES);
    assert.equal(bound.pool, "10.40.0.0/24");
    const c = host("c", store);
    await assert.rejects(
      c.cluster.requestPool(pool("10.40.0.0/24", { [CLUSTER_ID_OPTION]: "ffffffffffffffff" }), NO_ROUTES),
      (err: unknown) => isWeaveError(err, "WEAVE_IPAM_POOL_OVERLAP"),
    );
    await assert.rejects(
      c.cluster.requestPool(pool("10.41.0.0/24", { [CLUSTER_ID_OPTION]: cid }), NO_ROUTES),
      (err: unknown) => isWeaveError(err, "WEAVE_NOT_FOUND"),
    );
  });

  void it("binds a network's IPv6 pool to its IPv4 pool's cluster ID, so a replica finds both", async () => {
    const store = new MemoryClusterStore();
    const [a, b] = [host("a", store), host("b", store)];
    const v4 = await a.cluster.requestPool(pool("10.45.0.0/24"), NO_ROUTES);
    const v6 = await a.cluster.requestPool({ ...pool("fd00:45::/64"), v6: true }, NO_ROUTES);
    const cid4 = a.state.getPool(v4.poolId)?.options[CLUSTER_ID_OPTION];
    assert.notEqual(a.state.getPool(v6.poolId)?.options[CLUSTER_ID_OPTION], cid4, "reserved one by one");
    assert.equal(await a.cluster.bindNetwork(["10.45.0.0/24", "fd00:45::/64"]), cid4);
    assert.equal(a.state.getPool(v6.poolId)?.options[CLUSTER_ID_OPTION], cid4);
    const claim = await store.get("/weave/v1/pools/fd00:45::_64");
    assert.equal((JSON.parse(claim?.value ?? "{}") as { clusterId?: string }).clusterId, cid4);
    const bound = { [CLUSTER_ID_OPTION]: cid4 ?? "" };
    await b.cluster.requestPool(pool("10.45.0.0/24", bound), NO_ROUTES);
    await b.cluster.requestPool({ ...pool("fd00:45::/64", bound), v6: true }, NO_ROUTES);
    assert.equal(await a.cluster.bindNetwork(["192.0.2.0/24"]), undefined, "a pool of this host alone");
  });

  void it("rebinds a network's pools in the IPAM's serialisation: not while another IPAM call runs", async () => {
    const store = new MemoryClusterStore();
    const a = host("a", store);
    const v4 = await a.cluster.requestPool(pool("10.46.0.0/24"), NO_ROUTES);
    const v6 = await a.cluster.requestPool({ ...pool("fd00:46::/64"), v6: true }, NO_ROUTES);
    const cid = (id: string) => a.state.getPool(id)?.options[CLUSTER_ID_OPTION];
    const [cid4, cid6] = [cid(v4.poolId), cid(v6.poolId)];
    let finish = (): void => undefined;
    const busy = a.ipam.exclusive(() => new Promise<void>((resolve) => (finish = resolve)));
    const binding = a.cluster.bindNetwork(["10.46.0.0/24", "fd00:46::/64"]);
    await setImmediate();
    assert.equal(cid(v6.poolId), cid6, "the pool waits for its turn");
    const claim = async () =>
      (JSON.parse((await store.get("/weave/v1/pools/fd00:46::_64"))?.value ?? "{}") as { clusterId?: string })
        .clusterId;
    assert.equal(await claim(), cid6, "so does its reservation");
    finish();
    await busy;
    assert.equal(await binding, cid4);
    assert.equal(cid(v6.poolId), cid4);
    assert.equal(await claim(), cid4);
  });

  void it("never gives an address twice when three hosts allocate at once, each inside its own blocks", async () => {
    const store = new MemoryClusterStore();
    const shared = new Map<string, Set<string>>();
    const hosts = ["a", "b", "c"].map((n) => host(n, store, shared));
    const [first] = hosts;
    assert.ok(first);
    const res = await first.cluster.requestPool(pool("10.50.0.0/24"), NO_ROUTES);
    const cid = first.state.getPool(res.poolId)?.options[CLUSTER_ID_OPTION] ?? "";
    const gw = await first.cluster.requestAddress({
      poolId: res.poolId,
      address: "",
      options: { RequestAddressType: "com.docker.network.gateway" },
    });
    shared.set(cid, new Set([gw.address.split("/")[0] ?? ""]));
    const poolIds = new Map<string, string>();
    for (const h of hosts) {
      const r =
        h === first
          ? res
          : await h.cluster.requestPool(pool("10.50.0.0/24", { [CLUSTER_ID_OPTION]: cid }), NO_ROUTES);
      poolIds.set(h.name, r.poolId);
      if (h !== first)
        await h.cluster.requestAddress({
          poolId: r.poolId,
          address: gw.address.split("/")[0] ?? "",
          options: {},
        });
    }
    const results = await Promise.all(
      hosts.flatMap((h) =>
        Array.from({ length: 25 }, async () => ({
          h,
          address: (
            await h.cluster.requestAddress({ poolId: poolIds.get(h.name) ?? "", address: "", options: {} })
          ).address,
        })),
      ),
    );
    const all = results.map((r) => r.address);
    assert.equal(new Set(all).size, all.length, "no duplicate");
    assert.ok(!all.includes(gw.address), "the gateway is never handed out");
    assert.equal(blockBits(parsePrefix("10.50.0.0/24")), 28);
    for (const { h, address } of results) {
      const a = parseAddress(address.split("/")[0] ?? "");
      const owned = h.state.listBlocks(cid).map((b) => parsePrefix(b.block));
      assert.ok(
        owned.some((b) => containsAddress(b, a)),
        `${address} is in a block of ${h.name}`,
      );
    }
    const claims = await store.list(`/weave/v1/blocks/${cid}/`);
    const owners = new Map(
      claims.items.map((kv) => [kv.key, (JSON.parse(kv.value) as { host: string }).host]),
    );
    for (const h of hosts) {
      for (const b of h.state.listBlocks(cid)) {
        assert.equal(owners.get(`/weave/v1/blocks/${cid}/${b.block.replace("/", "_")}`), h.name);
      }
    }
  });

  void it("gives --ip in its own or a free block, refuses one in another host's block naming that host", async () => {
    const store = new MemoryClusterStore();
    const [a, b] = [host("a", store), host("b", store)];
    const res = await a.cluster.requestPool(pool("10.60.0.0/24"), NO_ROUTES);
    const cid = a.state.getPool(res.poolId)?.options[CLUSTER_ID_OPTION] ?? "";
    const got = await a.cluster.requestAddress({ poolId: res.poolId, address: "", options: {} });
    const rb = await b.cluster.requestPool(pool("10.60.0.0/24", { [CLUSTER_ID_OPTION]: cid }), NO_ROUTES);
    await assert.rejects(
      b.cluster.requestAddress({ poolId: rb.poolId, address: "10.60.0.5", options: {} }),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_IPAM_ADDRESS_IN_USE") &&
        /block 10\.60\.0\.0\/28 of host a/.test(err.message),
    );
    const fixed = await b.cluster.requestAddress({ poolId: rb.poolId, address: "10.60.0.200", options: {} });
    assert.equal(fixed.address, "10.60.0.200/24");
    assert.equal(b.state.listBlocks(cid)[0]?.block, "10.60.0.192/28");
    assert.equal(
      blockOf(parsePrefix("10.60.0.0/24"), parseAddress(got.address.split("/")[0] ?? "").value).bits,
      28,
    );
  });

  void it("allocates inside its blocks while the store is unreachable, and says why when it needs a new block", async () => {
    const { store, down } = switchable(new MemoryClusterStore());
    const a = host("a", store);
    const res = await a.cluster.requestPool(pool("10.70.0.0/28"), NO_ROUTES);
    // A /28 has blocks of 4 addresses: the first block holds .0 (network), then .1, .2, .3.
    const first = await a.cluster.requestAddress({ poolId: res.poolId, address: "", options: {} });
    assert.equal(first.address, "10.70.0.1/28");
    down.value = true;
    const second = await a.cluster.requestAddress({ poolId: res.poolId, address: "", options: {} });
    assert.equal(second.address, "10.70.0.2/28");
    await a.cluster.requestAddress({ poolId: res.poolId, address: "", options: {} });
    await assert.rejects(
      a.cluster.requestAddress({ poolId: res.poolId, address: "", options: {} }),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_TIMEOUT") &&
        /claim a new address block .* cluster store \(etcd:\/\/test\) is unreachable/.test(err.message),
    );
    await assert.rejects(a.cluster.requestPool(pool(""), NO_ROUTES), (err: unknown) =>
      isWeaveError(err, "WEAVE_TIMEOUT"),
    );
    down.value = false;
    assert.equal(
      (await a.cluster.requestAddress({ poolId: res.poolId, address: "", options: {} })).address,
      "10.70.0.4/28",
    );
  });
});
