import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isWeaveError } from "../../../src/core/index.js";
import type { IpamConfig, PoolRequest } from "../../../src/ipam/index.js";
import {
  GATEWAY_REQUEST,
  IpamLedger,
  LOCAL_ADDRESS_SPACE,
  parsePrefix,
  POOL_PREFIX_LIMITS,
} from "../../../src/ipam/index.js";
import type { LocalState } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const CONFIG: IpamConfig = {
  range: parsePrefix("10.32.0.0/12"),
  subnetBits: 24,
  rangeV6: parsePrefix("fd12:3456:789a::/48"),
  subnetBitsV6: 64,
  replayWindowMs: 60_000,
};

function setup(): { ipam: IpamLedger; state: LocalState } {
  const state = openSqliteState(":memory:");
  return { state, ipam: new IpamLedger(state, CONFIG, () => 1_000) };
}

const req = (pool: string, v6 = false): PoolRequest => ({
  addressSpace: LOCAL_ADDRESS_SPACE,
  pool,
  subPool: "",
  options: {},
  v6,
});

void describe("RequestPool: subnet size limits", () => {
  void it("refuses subnets too large or too small to be a network, naming the field and the bounds", () => {
    const { ipam, state } = setup();
    const cases: [string, boolean, RegExp][] = [
      [
        "0.0.0.0/0",
        false,
        /Pool \(--subnet\) "0\.0\.0\.0\/0": too large; weave accepts IPv4 subnets from \/8 to \/30/,
      ],
      ["10.0.0.0/7", false, /too large/],
      ["10.0.0.0/31", false, /"10\.0\.0\.0\/31": too small/],
      ["10.0.0.7/32", false, /too small/],
      ["::/0", true, /"::\/0": too large; weave accepts IPv6 subnets from \/48 to \/126/],
      ["fd00::/47", true, /too large/],
      ["fd00::/127", true, /too small/],
      ["fd00::1/128", true, /too small/],
    ];
    for (const [pool, v6, message] of cases) {
      assert.throws(
        () => ipam.requestPool(req(pool, v6), []),
        (err: unknown) => isWeaveError(err, "WEAVE_BAD_REQUEST") && message.test(err.message),
        pool,
      );
    }
    assert.deepEqual(state.listPools(), []);
  });

  void it("accepts every length inside the bounds, the docs' examples included", () => {
    const { ipam } = setup();
    for (const pool of [
      "10.0.0.0/8",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "192.169.0.0/24",
      "192.170.0.0/26",
    ]) {
      assert.equal(ipam.requestPool(req(pool), []).pool, pool);
    }
    assert.equal(ipam.requestPool(req("192.171.0.0/30"), []).pool, "192.171.0.0/30");
    for (const pool of ["fd00::/48", "fd01::/64", "fd02::/126"]) {
      assert.equal(ipam.requestPool(req(pool, true), []).pool, pool);
    }
  });

  void it("a length is accepted exactly when it lies within POOL_PREFIX_LIMITS (property)", () => {
    const { ipam } = setup();
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: 128 }), (v6, rawBits) => {
        const bits = v6 ? rawBits : rawBits % 33;
        const pool = v6 ? `::/${bits}` : `0.0.0.0/${bits}`;
        const { largest, smallest } = POOL_PREFIX_LIMITS[v6 ? 6 : 4];
        let accepted = true;
        try {
          ipam.releasePool(ipam.requestPool(req(pool, v6), []).poolId);
        } catch (err) {
          assert.ok(isWeaveError(err, "WEAVE_BAD_REQUEST"), String(err));
          assert.match(err.message, /Pool \(--subnet\)/);
          accepted = false;
        }
        assert.equal(accepted, bits >= largest && bits <= smallest, pool);
      }),
      { numRuns: 200 },
    );
  });

  void it("a pool awaiting replay is given back whatever its size (made before the limits)", () => {
    const { ipam, state } = setup();
    const id = `${LOCAL_ADDRESS_SPACE}/10.9.9.0/31`;
    state.putPool({
      id,
      family: 4,
      pool: "10.9.9.0/31",
      subPool: null,
      addressSpace: LOCAL_ADDRESS_SPACE,
      options: {},
      replayPending: false,
      createdAt: 1,
    });
    ipam.beginReplay();
    assert.equal(ipam.requestPool(req("10.9.9.0/31"), []).poolId, id);
  });
});

void describe("ReleaseAddress keeps an address an endpoint holds", () => {
  void it("after a replay granted a held address and the driver refused it, Docker's release keeps it", () => {
    const { ipam, state } = setup();
    const p = ipam.requestPool(req("10.99.0.0/24"), []);
    ipam.requestAddress({ poolId: p.poolId, address: "", options: { RequestAddressType: GATEWAY_REQUEST } });
    const a = ipam.requestAddress({ poolId: p.poolId, address: "10.99.0.50", options: {} });
    state.putNetwork({
      id: "n1",
      bridge: "weave-n1",
      mtu: 1450,
      internal: false,
      ipv4: [{ Pool: "10.99.0.0/24", Gateway: "10.99.0.1/24" }],
      ipv6: [],
      options: {},
      createdAt: 1,
    });
    state.putEndpoint({
      id: "e1",
      networkId: "n1",
      hostIf: "vwee1",
      peerIf: "vwpe1",
      mac: "02:42:0a:63:00:32",
      ipv4: a.address,
      ipv6: null,
      sandboxKey: null,
      createdAt: 1,
    });
    ipam.beginReplay();
    // A stray GetCapabilities: the exact request for the held address is granted as a replay...
    assert.equal(
      ipam.requestAddress({ poolId: p.poolId, address: "10.99.0.50", options: {} }).address,
      a.address,
    );
    // ...the driver refuses the second endpoint, and Docker releases "its" address:
    ipam.releaseAddress(p.poolId, "10.99.0.50");
    assert.ok(state.getAddress(p.poolId, "10.99.0.50"), "still reserved for e1");
    assert.throws(
      () => ipam.requestAddress({ poolId: p.poolId, address: "10.99.0.50", options: {} }),
      (err: unknown) => isWeaveError(err, "WEAVE_IPAM_ADDRESS_IN_USE"),
    );
    assert.equal(ipam.requestAddress({ poolId: p.poolId, address: "", options: {} }).address, "10.99.0.2/24");
    // Once the endpoint is gone (docker stop: DeleteEndpoint comes first), the release frees it.
    state.deleteEndpoint("e1");
    ipam.releaseAddress(p.poolId, "10.99.0.50");
    assert.equal(state.getAddress(p.poolId, "10.99.0.50"), undefined);
  });
});

void describe("RequestAddress names the gateway", () => {
  void it("a --gateway outside the subnet or on its network address is refused as a Gateway", () => {
    const { ipam } = setup();
    const p = ipam.requestPool(req("10.90.0.0/24"), []);
    const gw = (address: string) => () =>
      ipam.requestAddress({ poolId: p.poolId, address, options: { RequestAddressType: GATEWAY_REQUEST } });
    assert.throws(gw("10.91.0.1"), /Gateway "10\.91\.0\.1" is not in subnet "10\.90\.0\.0\/24"/);
    assert.throws(gw("10.90.0.0"), /Gateway "10\.90\.0\.0" is the network or broadcast address/);
    assert.throws(
      () => ipam.requestAddress({ poolId: p.poolId, address: "10.91.0.1", options: {} }),
      /Address "10\.91\.0\.1" is not in subnet/,
    );
  });
});
