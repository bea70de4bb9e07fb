import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ErrorCode } from "../../../src/core/index.js";
import { isWeaveError } from "../../../src/core/index.js";
import type { IpamConfig, PoolRequest, Prefix } from "../../../src/ipam/index.js";
import { GATEWAY_REQUEST, IpamLedger, LOCAL_ADDRESS_SPACE, parsePrefix } from "../../../src/ipam/index.js";
import type { LocalState } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const WINDOW_MS = 60_000;
const CONFIG: IpamConfig = {
  range: parsePrefix("10.32.0.0/12"),
  subnetBits: 24,
  rangeV6: parsePrefix("fd12:3456:789a::/48"),
  subnetBitsV6: 64,
  replayWindowMs: WINDOW_MS,
};
const GW = { RequestAddressType: GATEWAY_REQUEST };

interface Harness {
  state: LocalState;
  ipam: IpamLedger;
  clock: { t: number };
}

function setup(config: IpamConfig = CONFIG, state: LocalState = openSqliteState(":memory:")): Harness {
  const clock = { t: 1_000_000 };
  return { state, ipam: new IpamLedger(state, config, () => clock.t), clock };
}

function poolReq(pool = "", subPool = "", v6 = false): PoolRequest {
  return { addressSpace: LOCAL_ADDRESS_SPACE, pool, subPool, options: {}, v6 };
}

function rejects(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

void describe("IpamLedger: pools", () => {
  void it("carves 10.32.0.0/24 then 10.32.1.0/24 for dynamic requests", () => {
    const { ipam } = setup();
    const a = ipam.requestPool(poolReq(), []);
    const b = ipam.requestPool(poolReq(), []);
    assert.equal(a.pool, "10.32.0.0/24");
    assert.equal(b.pool, "10.32.1.0/24");
    assert.notEqual(a.poolId, b.poolId);
  });

  void it("never returns a pool that is still allocated (Docker's overlap loop)", () => {
    // Docker keeps a pool that overlaps a host route, asks again, and releases the held one later.
    const { ipam } = setup();
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = ipam.requestPool(poolReq(), []);
      assert.equal(seen.has(r.pool), false, `${r.pool} returned twice`);
      seen.add(r.pool);
    }
    // Releasing the first frees it for the next request.
    ipam.releasePool(`${LOCAL_ADDRESS_SPACE}/10.32.0.0/24`);
    assert.equal(ipam.requestPool(poolReq(), []).pool, "10.32.0.0/24");
  });

  void it("skips host routes but not the default route", () => {
    const { ipam } = setup();
    const routes: Prefix[] = ["0.0.0.0/0", "10.32.0.0/23", "10.32.2.128/25"].map((r) => parsePrefix(r));
    assert.equal(ipam.requestPool(poolReq(), routes).pool, "10.32.3.0/24");
  });

  void it("honours an explicit pool and returns it canonical", () => {
    const { ipam, state } = setup();
    const r = ipam.requestPool(poolReq("192.168.50.0/24"), []);
    assert.equal(r.pool, "192.168.50.0/24");
    assert.equal(state.getPool(r.poolId)?.pool, "192.168.50.0/24");
    // A dynamic request afterwards still starts at the range.
    assert.equal(ipam.requestPool(poolReq(), []).pool, "10.32.0.0/24");
  });

  void it("a dynamic pool avoids explicit pools inside the range", () => {
    const { ipam } = setup();
    ipam.requestPool(poolReq("10.32.0.0/16"), []);
    assert.equal(ipam.requestPool(poolReq(), []).pool, "10.33.0.0/24");
  });

  void it("rejects an explicit pool that overlaps an existing one with WEAVE_IPAM_POOL_OVERLAP", () => {
    const { ipam } = setup();
    ipam.requestPool(poolReq("10.10.0.0/16"), []);
    rejects(
      () => ipam.requestPool(poolReq("10.10.5.0/24"), []),
      "WEAVE_IPAM_POOL_OVERLAP",
      /"10\.10\.5\.0\/24" overlaps subnet "10\.10\.0\.0\/16"/,
    );
    rejects(() => ipam.requestPool(poolReq("10.0.0.0/8"), []), "WEAVE_IPAM_POOL_OVERLAP");
    // The exact same pool again, outside a replay window, is an overlap too.
    rejects(() => ipam.requestPool(poolReq("10.10.0.0/16"), []), "WEAVE_IPAM_POOL_OVERLAP");
    const carved = ipam.requestPool(poolReq(), []);
    rejects(() => ipam.requestPool(poolReq(carved.pool), []), "WEAVE_IPAM_POOL_OVERLAP");
  });

  void it("rejects bad pool requests with WEAVE_BAD_REQUEST", () => {
    const { ipam, state } = setup();
    rejects(
      () => ipam.requestPool(poolReq("10.10.0.0/24", "10.20.0.0/25"), []),
      "WEAVE_BAD_REQUEST",
      /IP range "10\.20\.0\.0\/25" is not inside subnet "10\.10\.0\.0\/24"/,
    );
    rejects(() => ipam.requestPool(poolReq("10.10.0.0/24", "10.10.0.0/23"), []), "WEAVE_BAD_REQUEST");
    rejects(() => ipam.requestPool(poolReq("", "10.10.0.0/25"), []), "WEAVE_BAD_REQUEST", /--subnet/);
    rejects(() => ipam.requestPool(poolReq("10.10.0.1/24"), []), "WEAVE_BAD_REQUEST", /host bits/);
    rejects(() => ipam.requestPool(poolReq("not-a-cidr"), []), "WEAVE_BAD_REQUEST");
    rejects(() => ipam.requestPool(poolReq("fd00::/64"), []), "WEAVE_BAD_REQUEST", /not an IPv4 subnet/);
    rejects(() => ipam.requestPool(poolReq("10.10.0.0/24", "", true), []), "WEAVE_BAD_REQUEST", /IPv6/);
    assert.deepEqual(state.listPools(), [], "nothing stored after bad requests");
  });

  void it("reports an exhausted range with WEAVE_IPAM_EXHAUSTED naming the range", () => {
    const { ipam } = setup({ ...CONFIG, range: parsePrefix("10.99.0.0/23") });
    ipam.requestPool(poolReq(), []);
    ipam.requestPool(poolReq(), []);
    rejects(() => ipam.requestPool(poolReq(), []), "WEAVE_IPAM_EXHAUSTED", /"10\.99\.0\.0\/23"/);
    const { ipam: routed } = setup({ ...CONFIG, range: parsePrefix("10.99.0.0/23") });
    rejects(() => routed.requestPool(poolReq(), [parsePrefix("10.99.0.0/16")]), "WEAVE_IPAM_EXHAUSTED");
  });

  void it("IPv6: explicit fd00::/64 and pools carved from rangeV6", () => {
    const { ipam } = setup();
    const explicit = ipam.requestPool(poolReq("fd00::/64", "", true), []);
    assert.equal(explicit.pool, "fd00::/64");
    const gw = ipam.requestAddress({ poolId: explicit.poolId, address: "", options: GW });
    assert.equal(gw.address, "fd00::1/64");
    const ep = ipam.requestAddress({ poolId: explicit.poolId, address: "", options: {} });
    assert.equal(ep.address, "fd00::2/64");
    const a = ipam.requestPool(poolReq("", "", true), []);
    const b = ipam.requestPool(poolReq("", "", true), []);
    assert.equal(a.pool, "fd12:3456:789a::/64");
    assert.equal(b.pool, "fd12:3456:789a:1::/64");
    assert.equal(
      ipam.requestAddress({ poolId: b.poolId, address: "FD12:3456:789A:1:0:0:0:9", options: {} }).address,
      "fd12:3456:789a:1::9/64",
    );
  });

  void it("releasing a pool frees its addresses; releases are idempotent", () => {
    const { ipam, state } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/24"), []);
    ipam.requestAddress({ poolId: p.poolId, address: "", options: GW });
    ipam.releasePool(p.poolId);
    ipam.releasePool(p.poolId);
    ipam.releasePool("LocalDefault/172.30.0.0/16");
    assert.deepEqual(state.listPools(), []);
    assert.deepEqual(state.listAddresses(), []);
    // The same subnet may be requested again.
    assert.equal(ipam.requestPool(poolReq("10.10.0.0/24"), []).poolId, p.poolId);
  });
});

void describe("IpamLedger: addresses", () => {
  void it("the gateway request gets the first address; endpoints the next ones, in CIDR", () => {
    const { ipam, state } = setup();
    const p = ipam.requestPool(poolReq(), []);
    assert.equal(ipam.requestAddress({ poolId: p.poolId, address: "", options: GW }).address, "10.32.0.1/24");
    assert.equal(ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }).address, "10.32.0.2/24");
    assert.equal(ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }).address, "10.32.0.3/24");
    const kinds = state.listAddresses(p.poolId).map((a) => [a.address, a.kind]);
    assert.deepEqual(kinds, [
      ["10.32.0.1", "gateway"],
      ["10.32.0.2", "endpoint"],
      ["10.32.0.3", "endpoint"],
    ]);
  });

  void it("endpoints get the lowest free address of the --ip-range with the pool's length", () => {
    const { ipam } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/16", "10.10.5.0/24"), []);
    // Docker asks for the gateway without --gateway: the first address of the pool, not of the range.
    assert.equal(ipam.requestAddress({ poolId: p.poolId, address: "", options: GW }).address, "10.10.0.1/16");
    const a = ipam.requestAddress({ poolId: p.poolId, address: "", options: {} });
    const b = ipam.requestAddress({ poolId: p.poolId, address: "", options: {} });
    assert.equal(a.address, "10.10.5.0/16");
    assert.equal(b.address, "10.10.5.1/16");
    ipam.releaseAddress(p.poolId, "10.10.5.0");
    assert.equal(ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }).address, "10.10.5.0/16");
  });

  void it("gives an explicit --ip exactly, or fails with WEAVE_IPAM_ADDRESS_IN_USE", () => {
    const { ipam } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/24"), []);
    assert.equal(
      ipam.requestAddress({ poolId: p.poolId, address: "10.10.0.77", options: {} }).address,
      "10.10.0.77/24",
    );
    rejects(
      () => ipam.requestAddress({ poolId: p.poolId, address: "10.10.0.77", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
      /"10\.10\.0\.77" is already in use in subnet "10\.10\.0\.0\/24"/,
    );
    // Dynamic allocation does not hand out the explicit one.
    for (let i = 1; i <= 80; i++) {
      const got = ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }).address;
      assert.notEqual(got, "10.10.0.77/24");
    }
  });

  void it("rejects network, broadcast and outside-pool addresses with WEAVE_BAD_REQUEST", () => {
    const { ipam, state } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/24"), []);
    for (const address of ["10.10.0.0", "10.10.0.255"]) {
      rejects(
        () => ipam.requestAddress({ poolId: p.poolId, address, options: {} }),
        "WEAVE_BAD_REQUEST",
        /network or broadcast/,
      );
    }
    rejects(
      () => ipam.requestAddress({ poolId: p.poolId, address: "10.10.1.5", options: {} }),
      "WEAVE_BAD_REQUEST",
      /not in subnet "10\.10\.0\.0\/24"/,
    );
    rejects(
      () => ipam.requestAddress({ poolId: p.poolId, address: "fd00::5", options: {} }),
      "WEAVE_BAD_REQUEST",
    );
    rejects(
      () => ipam.requestAddress({ poolId: p.poolId, address: "garbage", options: {} }),
      "WEAVE_BAD_REQUEST",
    );
    assert.deepEqual(state.listAddresses(), []);
  });

  void it("accepts an aux address outside the --ip-range but inside the pool", () => {
    const { ipam } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/24", "10.10.0.128/25"), []);
    assert.equal(
      ipam.requestAddress({ poolId: p.poolId, address: "10.10.0.5", options: {} }).address,
      "10.10.0.5/24",
    );
  });

  void it("fails for an unknown pool with WEAVE_NOT_FOUND", () => {
    const { ipam } = setup();
    rejects(
      () => ipam.requestAddress({ poolId: "nope", address: "", options: {} }),
      "WEAVE_NOT_FOUND",
      /"nope"/,
    );
  });

  void it("exhaustion gives WEAVE_IPAM_EXHAUSTED naming the pool or its range", () => {
    const { ipam } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/30"), []);
    ipam.requestAddress({ poolId: p.poolId, address: "", options: GW });
    ipam.requestAddress({ poolId: p.poolId, address: "", options: {} });
    rejects(
      () => ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }),
      "WEAVE_IPAM_EXHAUSTED",
      /"10\.10\.0\.0\/30"/,
    );
    const sub = ipam.requestPool(poolReq("10.20.0.0/24", "10.20.0.8/31"), []);
    ipam.requestAddress({ poolId: sub.poolId, address: "", options: {} });
    ipam.requestAddress({ poolId: sub.poolId, address: "", options: {} });
    rejects(
      () => ipam.requestAddress({ poolId: sub.poolId, address: "", options: {} }),
      "WEAVE_IPAM_EXHAUSTED",
      /"10\.20\.0\.8\/31"/,
    );
  });

  void it("releases are idempotent: twice, unknown address, unknown pool, empty address, CIDR form", () => {
    const { ipam, state } = setup();
    const p = ipam.requestPool(poolReq("10.10.0.0/24"), []);
    ipam.requestAddress({ poolId: p.poolId, address: "10.10.0.9", options: {} });
    ipam.releaseAddress(p.poolId, "10.10.0.9/24");
    ipam.releaseAddress(p.poolId, "10.10.0.9");
    ipam.releaseAddress(p.poolId, "10.10.0.200");
    ipam.releaseAddress("unknown", "10.10.0.9");
    ipam.releaseAddress(p.poolId, "");
    assert.deepEqual(state.listAddresses(), []);
    rejects(() => ipam.releaseAddress(p.poolId, "bogus"), "WEAVE_BAD_REQUEST");
  });

  void it("releasing a non-canonical IPv6 address frees the stored one", () => {
    const { ipam, state } = setup();
    const p = ipam.requestPool(poolReq("fd00::/64", "", true), []);
    ipam.requestAddress({ poolId: p.poolId, address: "fd00::a", options: {} });
    ipam.releaseAddress(p.poolId, "FD00:0:0:0:0:0:0:A");
    assert.deepEqual(state.listAddresses(), []);
  });
});

void describe("IpamLedger: replay (RequiresRequestReplay)", () => {
  /** Docker's view before the restart: a network with a gateway and two endpoints. */
  function withNetwork() {
    const h = setup();
    const p = h.ipam.requestPool(poolReq(), []);
    h.ipam.requestAddress({ poolId: p.poolId, address: "", options: GW });
    h.ipam.requestAddress({ poolId: p.poolId, address: "", options: {} });
    h.ipam.requestAddress({ poolId: p.poolId, address: "", options: {} });
    const explicit = h.ipam.requestPool(poolReq("192.168.9.0/24", "192.168.9.128/25"), []);
    h.ipam.requestAddress({ poolId: explicit.poolId, address: "192.168.9.1", options: GW });
    return { ...h, poolId: p.poolId, explicitId: explicit.poolId };
  }

  void it("re-requests of existing pools and addresses succeed during the window", () => {
    const { ipam, state, poolId, explicitId } = withNetwork();
    ipam.beginReplay();
    // Docker replays an auto-allocated pool as an explicit request for the same subnet.
    assert.deepEqual(ipam.requestPool(poolReq("10.32.0.0/24"), []), { poolId, pool: "10.32.0.0/24" });
    assert.equal(ipam.requestAddress({ poolId, address: "10.32.0.1", options: GW }).address, "10.32.0.1/24");
    assert.equal(ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }).address, "10.32.0.2/24");
    assert.equal(ipam.requestAddress({ poolId, address: "10.32.0.3", options: {} }).address, "10.32.0.3/24");
    assert.deepEqual(ipam.requestPool(poolReq("192.168.9.0/24", "192.168.9.128/25"), []), {
      poolId: explicitId,
      pool: "192.168.9.0/24",
    });
    assert.equal(
      ipam.requestAddress({ poolId: explicitId, address: "192.168.9.1", options: GW }).address,
      "192.168.9.1/24",
    );
    assert.equal(state.listPools().length, 2);
    assert.equal(state.listAddresses().length, 4);
  });

  void it("a refused duplicate's rollback keeps the first network's pool; a clash it did not grant protects nothing", () => {
    const { ipam, state, poolId } = withNetwork();
    state.putNetwork({
      id: "n1",
      bridge: "weave",
      mtu: 1450,
      internal: false,
      ipv4: [{ AddressSpace: "LocalDefault", Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }],
      ipv6: [],
      options: {},
      createdAt: 1,
    });
    // A clash on a subnet weave's IPAM did not grant again (another IPAM's network): nothing to
    // protect, so the first network's own removal later releases everything.
    ipam.expectRollback(["10.32.0.0/24"]);
    ipam.releaseAddress(poolId, "10.32.0.1");
    ipam.releasePool(poolId);
    assert.equal(state.getPool(poolId), undefined, "a normal removal (IPAM released first) frees the pool");
  });

  void it("after a replayed grant, the refused duplicate's rollback leaves the pool and gateway", () => {
    const { ipam, state, poolId } = withNetwork();
    state.putNetwork({
      id: "n1",
      bridge: "weave",
      mtu: 1450,
      internal: false,
      ipv4: [{ AddressSpace: "LocalDefault", Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }],
      ipv6: [],
      options: {},
      createdAt: 1,
    });
    ipam.beginReplay();
    assert.equal(ipam.requestPool(poolReq("10.32.0.0/24"), []).poolId, poolId, "granted as a replay");
    ipam.expectRollback(["10.32.0.0/24"]);
    ipam.releaseAddress(poolId, "10.32.0.1");
    ipam.releasePool(poolId);
    assert.ok(state.getPool(poolId), "the first network keeps its pool");
    assert.ok(state.getAddress(poolId, "10.32.0.1"), "and its gateway");
    // The protection is used up: the first network's own removal frees everything.
    ipam.releaseAddress(poolId, "10.32.0.1");
    ipam.releasePool(poolId);
    assert.equal(state.getPool(poolId), undefined);
  });

  void it("a replayed item may be replayed only once", () => {
    const { ipam, poolId } = withNetwork();
    ipam.beginReplay();
    ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} });
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
  });

  void it("a pool re-request with a different sub-pool is not a replay", () => {
    const { ipam } = withNetwork();
    ipam.beginReplay();
    rejects(() => ipam.requestPool(poolReq("192.168.9.0/24"), []), "WEAVE_IPAM_POOL_OVERLAP");
  });

  void it("a new address during the window is reserved without closing the window", () => {
    const { ipam, poolId } = withNetwork();
    ipam.beginReplay();
    assert.equal(
      ipam.requestAddress({ poolId, address: "10.32.0.50", options: {} }).address,
      "10.32.0.50/24",
    );
    assert.equal(ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }).address, "10.32.0.2/24");
  });

  void it("an endpoint request without an address closes the window", () => {
    const { ipam, poolId } = withNetwork();
    ipam.beginReplay();
    ipam.requestAddress({ poolId, address: "10.32.0.1", options: GW });
    assert.equal(ipam.requestAddress({ poolId, address: "", options: {} }).address, "10.32.0.4/24");
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
    rejects(() => ipam.requestPool(poolReq("10.32.0.0/24"), []), "WEAVE_IPAM_POOL_OVERLAP");
  });

  void it("a dynamic pool request closes the window", () => {
    const { ipam, poolId } = withNetwork();
    ipam.beginReplay();
    assert.equal(ipam.requestPool(poolReq(), []).pool, "10.32.1.0/24");
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
    rejects(() => ipam.requestPool(poolReq("10.32.0.0/24"), []), "WEAVE_IPAM_POOL_OVERLAP");
  });

  void it("a request for a taken address that is not awaiting replay closes the window", () => {
    const { ipam, poolId } = withNetwork();
    ipam.beginReplay();
    ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} });
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.3", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
  });

  void it("the window closes after replayWindowMs (address re-request)", () => {
    const { ipam, clock, poolId } = withNetwork();
    ipam.beginReplay();
    ipam.requestAddress({ poolId, address: "10.32.0.1", options: GW });
    clock.t += WINDOW_MS - 1;
    ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} });
    clock.t += 1;
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.3", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
  });

  void it("the window closes after replayWindowMs (pool re-request)", () => {
    const { ipam, clock } = withNetwork();
    ipam.beginReplay();
    clock.t += WINDOW_MS;
    rejects(() => ipam.requestPool(poolReq("10.32.0.0/24"), []), "WEAVE_IPAM_POOL_OVERLAP");
  });

  void it("the window closes after replayWindowMs even when the first late call is a replay", () => {
    const { ipam, clock, poolId, state } = withNetwork();
    ipam.beginReplay();
    clock.t += WINDOW_MS + 1;
    rejects(
      () => ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
    assert.ok(
      state.listAddresses().every((a) => !a.replayPending),
      "marks cleared once the window is over",
    );
  });

  void it("a new replay window can be opened again by another GetCapabilities", () => {
    const { ipam, poolId } = withNetwork();
    ipam.beginReplay();
    ipam.requestAddress({ poolId, address: "", options: {} }); // closes
    ipam.beginReplay();
    assert.equal(ipam.requestAddress({ poolId, address: "10.32.0.2", options: {} }).address, "10.32.0.2/24");
  });

  void it("a fresh IpamLedger on the same state clears leftover replay marks", () => {
    const { ipam, state, poolId } = withNetwork();
    ipam.beginReplay();
    assert.ok(state.listAddresses().every((a) => a.replayPending));
    const fresh = new IpamLedger(state, CONFIG, () => 5);
    assert.ok(state.listPools().every((p) => !p.replayPending));
    assert.ok(state.listAddresses().every((a) => !a.replayPending));
    rejects(
      () => fresh.requestAddress({ poolId, address: "10.32.0.2", options: {} }),
      "WEAVE_IPAM_ADDRESS_IN_USE",
    );
    rejects(() => fresh.requestPool(poolReq("10.32.0.0/24"), []), "WEAVE_IPAM_POOL_OVERLAP");
  });
});

void describe("IpamLedger: persistence", () => {
  const dir = mkdtempSync(join(tmpdir(), "weave-ipam-test-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it("pools and addresses survive re-opening a file database", () => {
    const path = join(dir, "state", "weave.db");
    const first = openSqliteState(path);
    const a = setup(CONFIG, first);
    const p = a.ipam.requestPool(poolReq(), []);
    a.ipam.requestAddress({ poolId: p.poolId, address: "", options: GW });
    a.ipam.requestAddress({ poolId: p.poolId, address: "", options: {} });
    first.close();

    const second = openSqliteState(path);
    try {
      const b = setup(CONFIG, second);
      assert.equal(b.ipam.requestPool(poolReq(), []).pool, "10.32.1.0/24");
      assert.equal(
        b.ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }).address,
        "10.32.0.3/24",
      );
      rejects(
        () => b.ipam.requestAddress({ poolId: p.poolId, address: "10.32.0.2", options: {} }),
        "WEAVE_IPAM_ADDRESS_IN_USE",
      );
    } finally {
      second.close();
    }
  });
});
