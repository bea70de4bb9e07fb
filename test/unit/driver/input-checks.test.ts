import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { ErrorCode } from "../../../src/core/index.js";
import { isWeaveError, KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { FakeDataplane } from "../../../src/dataplane/index.js";
import { checkEndpointInterface, checkIpamData, NetworkDriver } from "../../../src/driver/index.js";
import { containsAddress, parseAddress, parsePrefix } from "../../../src/ipam/index.js";
import type { IpamData, LocalState, NetworkRecord } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const NET = "1a2b3c4d5e6f".padEnd(64, "0");
const EP = "abcdef0123456789".padEnd(64, "2");
const EP2 = "0123456789abcdef".padEnd(64, "3");
const V4: IpamData[] = [{ AddressSpace: "LocalDefault", Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }];
const V6: IpamData[] = [{ AddressSpace: "LocalDefault", Pool: "fd00:1::/64", Gateway: "fd00:1::1/64" }];

function setup(): { driver: NetworkDriver; state: LocalState } {
  const state = openSqliteState(":memory:");
  let t = 0;
  const driver = new NetworkDriver({
    state,
    dataplane: new FakeDataplane(),
    queue: new KeyedSerialQueue(),
    logger: silentLogger,
    config: { mtu: 1450, nameserver: undefined },
    now: () => ++t,
    cluster: { bindNetwork: () => Promise.resolve(undefined) },
  });
  return { driver, state };
}

async function dualStack() {
  const h = setup();
  await h.driver.createNetwork({ networkId: NET, options: {}, ipv4: V4, ipv6: V6 });
  return h;
}

function endpoint(over: { id?: string; address?: string; v6?: string; mac?: string } = {}) {
  return {
    networkId: NET,
    endpointId: over.id ?? EP,
    address: over.address ?? "10.32.0.2/24",
    addressIPv6: over.v6 ?? "fd00:1::2/64",
    macAddress: over.mac ?? "",
    options: {},
  };
}

function throwsWith(fn: () => unknown, code: ErrorCode, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

void describe("CreateEndpoint: strict Interface fields", () => {
  void it("refuses bad AddressIPv6 values naming the field, and stores nothing", async () => {
    const h = await dualStack();
    const bad: [string, RegExp][] = [
      ["fd00::zz/64", /not an IPv6 address/],
      [":::://64", /not an IPv6 address/],
      ["fe80::1%eth0/64", /zone IDs are not allowed/],
      ["fd00:1:0:0:0:0:0:0:2/64", /not an IPv6 address/],
      ["fd00:1::2", /expected an IPv6 address in CIDR form/],
      ["fd00:1::2/129", /the prefix length must be 0 to 128/],
      ["fd00:1::2/48", /its prefix length is not the subnet's \(\/64\)/],
      ["fd00:2::2/64", /not inside the network's subnets \(fd00:1::\/64\)/],
      ["10.32.0.2/24", /not an IPv6 address/],
      ["fd00:1::/64", /network or broadcast address/],
      ["fd00:1::1/64", /gateway/],
    ];
    for (const [v6, reason] of bad) {
      await rejectsWith(
        h.driver.createEndpoint(endpoint({ v6 })),
        "WEAVE_BAD_REQUEST",
        new RegExp(
          `Interface\\.AddressIPv6 "${v6.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}": .*${reason.source}`,
        ),
      );
    }
    assert.deepEqual(h.state.listEndpoints(), []);
  });

  void it("refuses an IPv6 or malformed value in the IPv4 Address field, naming the field", async () => {
    const h = await dualStack();
    const bad: [string, RegExp][] = [
      ["fd00:1::2/64", /not an IPv4 address/],
      ["10.32.0.2", /expected an IPv4 address in CIDR form/],
      ["10.32.0.256/24", /not an IPv4 address/],
      ["10.32.0.2/33", /the prefix length must be 0 to 32/],
      ["10.32.0.2/16", /its prefix length is not the subnet's/],
      ["10.33.0.2/24", /not inside the network's subnets \(10\.32\.0\.0\/24\)/],
      ["10.32.0.255/24", /broadcast/],
      ["10.32.0.1/24", /gateway/],
    ];
    for (const [address, reason] of bad) {
      await rejectsWith(
        h.driver.createEndpoint(endpoint({ address })),
        "WEAVE_BAD_REQUEST",
        new RegExp(`Interface\\.Address "[^"]*": .*${reason.source}`),
      );
    }
    await rejectsWith(
      h.driver.createEndpoint(endpoint({ address: "" })),
      "WEAVE_BAD_REQUEST",
      /Interface\.Address ""/,
    );
    assert.deepEqual(h.state.listEndpoints(), []);
  });

  void it("refuses an IPv6 address on a network without an IPv6 subnet, and bad MACs", async () => {
    const h = setup();
    await h.driver.createNetwork({ networkId: NET, options: {}, ipv4: V4, ipv6: [] });
    await rejectsWith(
      h.driver.createEndpoint(endpoint()),
      "WEAVE_BAD_REQUEST",
      /Interface\.AddressIPv6 "fd00:1::2\/64": the network has no IPv6 subnet/,
    );
    for (const mac of ["02:42:0a:20:00", "01:00:5e:00:00:01", "00:00:00:00:00:00", "02:42:0a:20:00:0g"]) {
      await rejectsWith(
        h.driver.createEndpoint(endpoint({ v6: "", mac })),
        "WEAVE_BAD_REQUEST",
        /Interface\.MacAddress/,
      );
    }
    assert.deepEqual(h.state.listEndpoints(), []);
  });

  void it("stores canonical values", async () => {
    const h = await dualStack();
    await h.driver.createEndpoint(endpoint({ v6: "FD00:1:0:0:0:0:0:A/64", mac: "02-42-AA-BB-CC-DD" }));
    const ep = h.state.getEndpoint(EP);
    assert.equal(ep?.ipv6, "fd00:1::a/64");
    assert.equal(ep?.ipv4, "10.32.0.2/24");
    assert.equal(ep?.mac, "02:42:aa:bb:cc:dd");
  });
});

void describe("CreateEndpoint: no two endpoints of a network share an address", () => {
  void it("refuses another endpoint's IPv4 or IPv6 address with WEAVE_IPAM_ADDRESS_IN_USE", async () => {
    const h = await dualStack();
    await h.driver.createEndpoint(endpoint());
    await rejectsWith(
      h.driver.createEndpoint(endpoint({ id: EP2, v6: "fd00:1::3/64" })),
      "WEAVE_IPAM_ADDRESS_IN_USE",
      /Interface\.Address "10\.32\.0\.2" is already in use by endpoint abcdef012345/,
    );
    await rejectsWith(
      h.driver.createEndpoint(endpoint({ id: EP2, address: "10.32.0.3/24", v6: "FD00:1::2/64" })),
      "WEAVE_IPAM_ADDRESS_IN_USE",
      /Interface\.AddressIPv6 "fd00:1::2" is already in use/,
    );
    assert.deepEqual(
      h.state.listEndpoints().map((e) => e.id),
      [EP],
    );
  });

  void it("the same endpoint created again (Docker retrying) still works; a freed address is free", async () => {
    const h = await dualStack();
    await h.driver.createEndpoint(endpoint());
    await h.driver.createEndpoint(endpoint());
    assert.equal(h.state.listEndpoints().length, 1);
    await h.driver.deleteEndpoint({ networkId: NET, endpointId: EP });
    await h.driver.createEndpoint(endpoint({ id: EP2 }));
    assert.equal(h.state.getEndpoint(EP2)?.ipv4, "10.32.0.2/24");
  });
});

void describe("CreateNetwork: gateway and aux addresses", () => {
  const refuses = (data: IpamData[], family: 4 | 6, message: RegExp) =>
    throwsWith(() => checkIpamData(data, family), "WEAVE_BAD_REQUEST", message);

  void it("refuses a Pool that is not a subnet of the family, naming it", () => {
    refuses([{ Pool: "fd00::/64" }], 4, /IPv4Data\[0\]\.Pool "fd00::\/64": not an IPv4 address/);
    refuses([{ Pool: "10.0.0.0/33" }], 4, /IPv4Data\[0\]\.Pool "10\.0\.0\.0\/33": the prefix length/);
    refuses([{ Pool: "fd00::/64" }, { Pool: "fd01::" }], 6, /IPv6Data\[1\]\.Pool "fd01::": expected/);
  });

  void it("refuses a gateway outside the pool, of the other family, with another length, or unusable", () => {
    const pool = "10.99.0.0/24";
    refuses(
      [{ Pool: pool, Gateway: "10.98.0.1/24" }],
      4,
      /IPv4Data\[0\]\.Gateway \(--gateway\) "10\.98\.0\.1\/24": not inside the subnet "10\.99\.0\.0\/24"/,
    );
    refuses([{ Pool: pool, Gateway: "fd00::1/64" }], 4, /Gateway.*not an IPv4 address/);
    refuses(
      [{ Pool: pool, Gateway: "10.99.0.1/16" }],
      4,
      /Gateway.*prefix length is not the subnet's \(\/24\)/,
    );
    refuses([{ Pool: pool, Gateway: "10.99.0.0/24" }], 4, /Gateway.*network or broadcast/);
    refuses([{ Pool: pool, Gateway: "10.99.0.255/24" }], 4, /Gateway.*network or broadcast/);
    refuses([{ Pool: pool, Gateway: "10.99.0.1" }], 4, /Gateway.*CIDR/);
    refuses([{ Pool: "fd00::/64", Gateway: "fd00::/64" }], 6, /IPv6Data\[0\]\.Gateway.*network or broadcast/);
  });

  void it("refuses aux addresses that are invalid, outside, of the other family, the gateway or repeated", () => {
    const base = { Pool: "10.99.0.0/24", Gateway: "10.99.0.254/24" };
    const aux = (a: Record<string, string>) => [{ ...base, AuxAddresses: a }];
    refuses(
      aux({ r: "10.99.0.300" }),
      4,
      /AuxAddresses\.r \(--aux-address\) "10\.99\.0\.300": not an IPv4 address/,
    );
    refuses(aux({ r: "10.98.0.10/24" }), 4, /AuxAddresses\.r.*not inside the subnet/);
    refuses(aux({ r: "fd00::10" }), 4, /AuxAddresses\.r.*not an IPv4 address/);
    refuses(aux({ r: "10.99.0.254/24" }), 4, /AuxAddresses\.r.*it is the gateway/);
    refuses(
      aux({ a: "10.99.0.10", b: "10.99.0.10/24" }),
      4,
      /AuxAddresses\.b.*same address as aux address "a"/,
    );
    refuses(aux({ r: "10.99.0.0" }), 4, /AuxAddresses\.r.*network or broadcast/);
  });

  void it("accepts what Docker sends for valid networks, and the null IPAM's 0.0.0.0/0", () => {
    checkIpamData(
      [{ Pool: "10.99.0.0/24", Gateway: "10.99.0.254/24", AuxAddresses: { r: "10.99.0.10/24" } }],
      4,
    );
    checkIpamData([{ Pool: "10.99.0.0/24", AuxAddresses: { r: "10.99.0.10" } }], 4);
    checkIpamData([{ Pool: "0.0.0.0/0" }], 4);
    checkIpamData([{ Pool: "10.0.0.0/31", Gateway: "10.0.0.0/31" }], 4);
    checkIpamData([{ Pool: "fd00:1::/64", Gateway: "fd00:1::1/64" }], 6);
  });

  void it("the driver refuses such a network and records nothing", async () => {
    const h = setup();
    await rejectsWith(
      h.driver.createNetwork({
        networkId: NET,
        options: {},
        ipv4: [{ Pool: "10.99.0.0/24", Gateway: "10.9.0.1/24" }],
        ipv6: [],
      }),
      "WEAVE_BAD_REQUEST",
      /Gateway/,
    );
    assert.deepEqual(h.state.listNetworks(), []);
  });
});

void describe("checkEndpointInterface (property)", () => {
  const network = (pool: string): NetworkRecord => ({
    id: NET,
    bridge: "weave-x",
    mtu: 1450,
    internal: false,
    ipv4: [{ Pool: pool }],
    ipv6: [],
    options: {},
    createdAt: 0,
  });

  void it("whatever the input, it either refuses naming the field or returns a parsable address in the pool", () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."));
    const junk = fc.oneof(
      fc.string(),
      fc.tuple(ipv4, fc.integer({ min: -1, max: 40 })).map(([a, l]) => `${a}/${l}`),
      fc.ipV6().map((a) => `${a}/64`),
      fc.ipV4Extended().map((a) => `${a}/24`),
    );
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 30 }), ipv4, junk, (bits, base, address) => {
        const pool = parsePrefix(`${base}/${bits}`);
        const n = network(`${base}/${bits}`);
        let out;
        try {
          out = checkEndpointInterface(n, { address, addressIPv6: "", macAddress: "" });
        } catch (err) {
          assert.ok(isWeaveError(err, "WEAVE_BAD_REQUEST"), String(err));
          assert.match(err.message, /Interface\.Address/);
          return;
        }
        if (out.ipv4 === null) {
          assert.equal(address, "", "only an empty Address gives none");
          return;
        }
        const [text, length] = out.ipv4.split("/");
        assert.ok(containsAddress(pool, parseAddress(text ?? "")));
        assert.equal(Number(length), bits);
      }),
      { numRuns: 300 },
    );
  });
});
