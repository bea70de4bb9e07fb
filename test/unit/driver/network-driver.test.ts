import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { ErrorCode, JsonObject } from "../../../src/core/index.js";
import { isWeaveError, KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { FakeDataplane } from "../../../src/dataplane/index.js";
import type { DriverConfig } from "../../../src/driver/index.js";
import {
  bridgeSpec,
  CONTAINER_IF_PREFIX,
  defaultBridgeName,
  desiredDataplane,
  endpointMac,
  NetworkDriver,
  networkPolicy,
  parseNetworkOptions,
  vethSpec,
} from "../../../src/driver/index.js";
import type { IpamData, LocalState } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const NET = "1a2b3c4d5e6f".padEnd(64, "0");
const NET2 = "99887766554433".padEnd(64, "1");
const EP = "abcdef0123456789".padEnd(64, "2");
const EP2 = "0123456789abcdef".padEnd(64, "3");
const IPV4: IpamData[] = [{ AddressSpace: "LocalDefault", Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }];
const BASE_OPTIONS: JsonObject = {
  "com.docker.network.enable_ipv4": true,
  "com.docker.network.enable_ipv6": false,
};

interface Harness {
  driver: NetworkDriver;
  dp: FakeDataplane;
  state: LocalState;
}

function setup(config: Partial<DriverConfig> = {}): Harness {
  const state = openSqliteState(":memory:");
  const dp = new FakeDataplane();
  let t = 0;
  const driver = new NetworkDriver({
    state,
    dataplane: dp,
    queue: new KeyedSerialQueue(),
    logger: silentLogger,
    config: { mtu: 1450, nameserver: undefined, ...config },
    now: () => ++t,
    cluster: { bindNetwork: () => Promise.resolve(undefined) },
  });
  return { driver, dp, state };
}

function generic(opts: Record<string, string>): JsonObject {
  return { ...BASE_OPTIONS, "com.docker.network.generic": opts };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

async function createNet(
  h: Harness,
  over: { id?: string; options?: JsonObject; ipv4?: IpamData[]; ipv6?: IpamData[] } = {},
) {
  await h.driver.createNetwork({
    networkId: over.id ?? NET,
    options: over.options ?? BASE_OPTIONS,
    ipv4: over.ipv4 ?? IPV4,
    ipv6: over.ipv6 ?? [],
  });
}

async function createEp(
  h: Harness,
  over: { id?: string; net?: string; address?: string; mac?: string; v6?: string } = {},
) {
  return h.driver.createEndpoint({
    networkId: over.net ?? NET,
    endpointId: over.id ?? EP,
    address: over.address ?? "10.32.0.2/24",
    addressIPv6: over.v6 ?? "",
    macAddress: over.mac ?? "",
    options: {},
  });
}

void describe("NetworkDriver.createNetwork", () => {
  void it("creates bridge weave-<9 chars of id> with the gateway address and the configured MTU", async () => {
    const h = setup();
    await createNet(h);
    const name = "weave-1a2b3c4d5";
    assert.equal(defaultBridgeName(NET), name);
    const br = h.dp.links.get(name);
    assert.ok(br, "bridge exists");
    assert.equal(br.kind, "bridge");
    assert.equal(br.mtu, 1450);
    assert.deepEqual(br.addresses, ["10.32.0.1/24"]);
    assert.equal(br.up, true);
    assert.deepEqual(h.dp.commands.slice(0, 3), [
      `ip link add ${name} mtu 1450 type bridge`,
      `ip address add 10.32.0.1/24 dev ${name}`,
      `ip link set ${name} up`,
    ]);
    assert.deepEqual(h.dp.policies, [
      { bridge: name, subnets: ["10.32.0.0/24"], internal: false, gateways: ["10.32.0.1"] },
    ]);
    assert.match(h.dp.ruleset, new RegExp(name));
    const rec = h.state.getNetwork(NET);
    assert.equal(rec?.bridge, name);
    assert.equal(rec?.mtu, 1450);
    assert.equal(rec?.internal, false);
  });

  void it("takes the MTU from -o com.docker.network.driver.mtu", async () => {
    const h = setup();
    await createNet(h, { options: generic({ "com.docker.network.driver.mtu": "1376" }) });
    assert.equal(h.dp.links.get(defaultBridgeName(NET))?.mtu, 1376);
    assert.equal(h.state.getNetwork(NET)?.mtu, 1376);
  });

  void it("uses bridge 'weave' with -o com.docker.network.bridge.name=weave", async () => {
    const h = setup();
    await createNet(h, { options: generic({ "com.docker.network.bridge.name": "weave" }) });
    assert.ok(h.dp.links.has("weave"));
    assert.equal(h.dp.links.has(defaultBridgeName(NET)), false);
    assert.equal(h.state.getNetwork(NET)?.bridge, "weave");
  });

  void it("rejects an invalid MTU or bridge name with WEAVE_BAD_REQUEST and changes nothing", async () => {
    const h = setup();
    for (const mtu of ["abc", "67", "65536", "1500.5", "-1", ""]) {
      await rejectsWith(
        createNet(h, { options: generic({ "com.docker.network.driver.mtu": mtu }) }),
        "WEAVE_BAD_REQUEST",
        /com\.docker\.network\.driver\.mtu/,
      );
    }
    for (const bridge of ["eth0", "weave-", "weave-toolongname", "weave-a b", "docker0", "weave-x;rm"]) {
      await rejectsWith(
        createNet(h, { options: generic({ "com.docker.network.bridge.name": bridge }) }),
        "WEAVE_BAD_REQUEST",
        /com\.docker\.network\.bridge\.name/,
      );
    }
    await rejectsWith(createNet(h, { ipv4: [{ Pool: "fd00::/64" }] }), "WEAVE_BAD_REQUEST");
    await rejectsWith(
      createNet(h, { ipv4: [{ Pool: "10.0.0.0/24", Gateway: "nope" }] }),
      "WEAVE_BAD_REQUEST",
    );
    await rejectsWith(createNet(h, { ipv6: [{ Pool: "10.0.0.0/24" }] }), "WEAVE_BAD_REQUEST");
    assert.deepEqual(h.state.listNetworks(), []);
    assert.deepEqual(h.dp.commands, []);
  });

  void it("com.docker.network.internal: true gives an internal policy", async () => {
    const h = setup();
    await createNet(h, { options: { ...BASE_OPTIONS, "com.docker.network.internal": true } });
    assert.equal(h.state.getNetwork(NET)?.internal, true);
    assert.equal(h.dp.policies.length, 1);
    assert.equal(h.dp.policies[0]?.internal, true);
    assert.equal(h.dp.ipForward, false, "an internal network alone does not enable forwarding");
  });

  void it("two networks cannot share a bridge name (WEAVE_CONFLICT), the first is untouched", async () => {
    const h = setup();
    const opts = generic({ "com.docker.network.bridge.name": "weave" });
    await createNet(h, { options: opts });
    const before = h.dp.commands.length;
    await rejectsWith(createNet(h, { id: NET2, options: opts }), "WEAVE_CONFLICT", /"weave".*1a2b3c4d5e6f/);
    assert.deepEqual(
      h.state.listNetworks().map((n) => n.id),
      [NET],
    );
    assert.equal(h.dp.commands.length, before, "no data-plane command for the rejected network");
    assert.ok(h.dp.links.has("weave"));
  });

  void it("is idempotent for the same ID", async () => {
    const h = setup();
    await createNet(h);
    const created = h.state.getNetwork(NET)?.createdAt;
    const linkCommands = () => h.dp.commands.filter((c) => c.startsWith("ip "));
    const before = linkCommands().length;
    await createNet(h);
    assert.equal(linkCommands().length, before, "no link command the second time");
    assert.equal(h.state.listNetworks().length, 1);
    assert.equal(h.state.getNetwork(NET)?.createdAt, created);
    assert.equal(h.dp.policies.length, 1);
  });

  void it("a bridge failure leaves no record and no bridge", async () => {
    const h = setup();
    h.dp.failNext(`ip link set ${defaultBridgeName(NET)} up`);
    await rejectsWith(createNet(h), "WEAVE_DATAPLANE");
    assert.equal(h.state.getNetwork(NET), undefined);
    assert.equal(h.dp.links.has(defaultBridgeName(NET)), false);
    assert.ok(
      h.dp.commands.includes(`ip link del ${defaultBridgeName(NET)}`),
      "cleans up a half-made bridge",
    );
    // A retry works.
    await createNet(h);
    assert.ok(h.dp.links.has(defaultBridgeName(NET)));
  });

  void it("a policy failure after the bridge exists removes the bridge and the record", async () => {
    const h = setup();
    h.dp.failNext("nft -f -");
    await rejectsWith(createNet(h), "WEAVE_DATAPLANE");
    assert.equal(h.state.getNetwork(NET), undefined);
    assert.equal(h.dp.links.has(defaultBridgeName(NET)), false);
    assert.deepEqual(h.dp.policies, []);
  });

  void it("a failure while re-creating an existing network keeps its record", async () => {
    const h = setup();
    await createNet(h);
    h.dp.failNext("nft -f -");
    await rejectsWith(createNet(h), "WEAVE_DATAPLANE");
    assert.ok(h.state.getNetwork(NET));
    assert.ok(h.dp.links.has(defaultBridgeName(NET)));
  });

  void it("IPv6 gateways go on the bridge too", async () => {
    const h = setup();
    await createNet(h, { ipv6: [{ Pool: "fd00::/64", Gateway: "fd00::1/64" }] });
    assert.deepEqual(h.dp.links.get(defaultBridgeName(NET))?.addresses, ["10.32.0.1/24", "fd00::1/64"]);
  });
});

void describe("NetworkDriver.deleteNetwork", () => {
  void it("deletes the bridge, its veths and the record; unknown IDs succeed", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    await h.driver.deleteNetwork(NET);
    assert.equal(h.state.getNetwork(NET), undefined);
    assert.deepEqual(h.state.listEndpoints(), []);
    assert.equal(h.dp.links.size, 0);
    assert.deepEqual(h.dp.policies, []);
    await h.driver.deleteNetwork(NET);
    await h.driver.deleteNetwork("f".repeat(64));
  });
});

void describe("NetworkDriver endpoints", () => {
  void it("createEndpoint makes veth vwe<10>/vwp<10> on the bridge and returns only a MAC", async () => {
    const h = setup();
    await createNet(h);
    const res = await createEp(h);
    const mac = endpointMac(EP, "10.32.0.2/24");
    assert.equal(mac, "02:42:0a:20:00:02", "derived from the address, as Docker's bridge does");
    assert.deepEqual(res, { Interface: { MacAddress: mac } });
    const host = h.dp.links.get("vweabcdef0123");
    const peer = h.dp.links.get("vwpabcdef0123");
    assert.ok(host && peer);
    assert.equal(host.master, defaultBridgeName(NET));
    assert.equal(host.mtu, 1450);
    assert.equal(peer.mac, mac);
    const rec = h.state.getEndpoint(EP);
    assert.equal(rec?.ipv4, "10.32.0.2/24");
    assert.equal(rec?.mac, mac);
  });

  void it("returns {Interface: null} when Docker sent a MAC, and uses that MAC", async () => {
    const h = setup();
    await createNet(h);
    const res = await createEp(h, { mac: "02:42:0A:20:00:02" });
    assert.deepEqual(res, { Interface: null });
    assert.equal(h.dp.links.get("vwpabcdef0123")?.mac, "02:42:0a:20:00:02");
    assert.equal(JSON.stringify(res).includes('Address"'), false, "never echoes Address");
  });

  void it("rejects an invalid MAC or address with WEAVE_BAD_REQUEST", async () => {
    const h = setup();
    await createNet(h);
    await rejectsWith(createEp(h, { mac: "zz:42:0a:20:00:02" }), "WEAVE_BAD_REQUEST", /MAC/);
    await rejectsWith(createEp(h, { address: "999.1.1.1/24" }), "WEAVE_BAD_REQUEST");
    await rejectsWith(createEp(h, { address: "" }), "WEAVE_BAD_REQUEST", /no IPv4 address/);
    assert.deepEqual(h.state.listEndpoints(), []);
  });

  void it("createEndpoint on an unknown network gives WEAVE_NOT_FOUND", async () => {
    const h = setup();
    await rejectsWith(createEp(h), "WEAVE_NOT_FOUND", /1a2b3c4d5e6f/);
  });

  void it("createEndpoint is idempotent, and an endpoint cannot move to another network", async () => {
    const h = setup();
    await createNet(h);
    await createNet(h, { id: NET2, ipv4: [{ Pool: "10.32.1.0/24", Gateway: "10.32.1.1/24" }] });
    await createEp(h);
    await createEp(h);
    assert.equal(h.state.listEndpoints().length, 1);
    await rejectsWith(createEp(h, { net: NET2, address: "10.32.1.2/24" }), "WEAVE_CONFLICT");
  });

  void it("refuses an endpoint ID whose first 10 characters another endpoint has, naming it", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    const twin = "abcdef0123".padEnd(64, "9");
    await assert.rejects(
      createEp(h, { id: twin, address: "10.32.0.3/24" }),
      (e) =>
        isWeaveError(e, "WEAVE_CONFLICT") &&
        /EndpointID .* endpoint abcdef012345 \(interface vweabcdef0123\)/.test(String(e)),
    );
    assert.equal(h.state.listEndpoints().length, 1, "nothing stored for the twin");
  });

  void it("a veth failure leaves no endpoint record and no veth", async () => {
    const h = setup();
    await createNet(h);
    h.dp.failNext("master");
    await rejectsWith(createEp(h), "WEAVE_DATAPLANE");
    assert.equal(h.state.getEndpoint(EP), undefined);
    assert.equal(h.dp.links.has("vweabcdef0123"), false);
    assert.equal(h.dp.links.has("vwpabcdef0123"), false);
    assert.ok(h.dp.commands.includes("ip link del vweabcdef0123"), "cleans up a half-made veth");
  });

  void it("deleteEndpoint removes the veth and the record; it is idempotent", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    await h.driver.deleteEndpoint({ networkId: NET, endpointId: EP });
    assert.equal(h.dp.links.has("vweabcdef0123"), false);
    assert.equal(h.dp.links.has("vwpabcdef0123"), false);
    assert.equal(h.state.getEndpoint(EP), undefined);
    await h.driver.deleteEndpoint({ networkId: NET, endpointId: EP });
    await h.driver.deleteEndpoint({ networkId: "x", endpointId: "y" });
  });
});

void describe("NetworkDriver.join / leave", () => {
  void it("returns SrcName=peer, DstPrefix ethwe, a plain-IP Gateway and DisableGatewayService false", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    const res = await h.driver.join({
      networkId: NET,
      endpointId: EP,
      sandboxKey: "/var/run/docker/netns/abc",
      options: {},
    });
    assert.deepEqual(res, {
      InterfaceName: { SrcName: "vwpabcdef0123", DstPrefix: "ethwe" },
      Gateway: "10.32.0.1",
      DisableGatewayService: false,
    });
    assert.equal(CONTAINER_IF_PREFIX, "ethwe");
    assert.equal(h.state.getEndpoint(EP)?.sandboxKey, "/var/run/docker/netns/abc");
  });

  void it("returns GatewayIPv6 as a plain IP for dual-stack networks", async () => {
    const h = setup();
    await createNet(h, { ipv6: [{ Pool: "fd00::/64", Gateway: "fd00::1/64" }] });
    await createEp(h, { v6: "fd00::2/64" });
    const res = await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.equal(res.Gateway, "10.32.0.1");
    assert.equal(res.GatewayIPv6, "fd00::1");
  });

  void it("internal networks get no Gateway and DisableGatewayService true", async () => {
    const h = setup();
    await createNet(h, {
      options: { ...BASE_OPTIONS, "com.docker.network.internal": true },
      ipv6: [{ Pool: "fd00::/64", Gateway: "fd00::1/64" }],
    });
    await createEp(h);
    const res = await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.equal("Gateway" in res, false);
    assert.equal("GatewayIPv6" in res, false);
    assert.equal(res.DisableGatewayService, true);
  });

  void it('an IPv4-less network with an endpoint address "" works and has no Gateway', async () => {
    const h = setup();
    await createNet(h, { options: { ...BASE_OPTIONS, "com.docker.network.enable_ipv4": false }, ipv4: [] });
    const created = await createEp(h, { address: "" });
    assert.deepEqual(created, { Interface: { MacAddress: endpointMac(EP) } });
    assert.equal(h.state.getEndpoint(EP)?.ipv4, null);
    const res = await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.equal("Gateway" in res, false);
    assert.equal(res.DisableGatewayService, true);
    assert.deepEqual(h.dp.links.get(defaultBridgeName(NET))?.addresses, []);
  });

  void it("with a nameserver, returns a connected /32 route to it", async () => {
    const h = setup({ nameserver: "10.32.0.53" });
    await createNet(h);
    await createEp(h);
    const res = await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.deepEqual(res.StaticRoutes, [{ Destination: "10.32.0.53/32", RouteType: 1 }]);
    const h6 = setup({ nameserver: "fd00::53" });
    await createNet(h6);
    await createEp(h6);
    const res6 = await h6.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.deepEqual(res6.StaticRoutes, [{ Destination: "fd00::53/128", RouteType: 1 }]);
  });

  void it("without a nameserver, returns no StaticRoutes", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    const res = await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.equal("StaticRoutes" in res, false);
  });

  void it("join of an unknown endpoint or network gives WEAVE_NOT_FOUND", async () => {
    const h = setup();
    await createNet(h);
    await rejectsWith(
      h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} }),
      "WEAVE_NOT_FOUND",
      /abcdef012345/,
    );
    await rejectsWith(
      h.driver.join({ networkId: NET2, endpointId: EP, sandboxKey: "k", options: {} }),
      "WEAVE_NOT_FOUND",
    );
    // An endpoint joined through the wrong network is not found either.
    await createNet(h, { id: NET2, ipv4: [{ Pool: "10.32.1.0/24", Gateway: "10.32.1.1/24" }] });
    await createEp(h);
    await rejectsWith(
      h.driver.join({ networkId: NET2, endpointId: EP, sandboxKey: "k", options: {} }),
      "WEAVE_NOT_FOUND",
    );
  });

  void it("join recreates a lost veth", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    await h.dp.deleteVeth("vweabcdef0123");
    await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    assert.equal(h.dp.links.get("vweabcdef0123")?.master, defaultBridgeName(NET));
  });

  void it("leave clears the sandbox and is idempotent", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    await h.driver.join({ networkId: NET, endpointId: EP, sandboxKey: "k", options: {} });
    await h.driver.leave({ networkId: NET, endpointId: EP });
    assert.equal(h.state.getEndpoint(EP)?.sandboxKey, null);
    await h.driver.leave({ networkId: NET, endpointId: EP });
    await h.driver.leave({ networkId: NET, endpointId: EP2 });
    await h.driver.leave({ networkId: "gone", endpointId: "gone" });
  });

  void it("endpointInfo reports the endpoint or an empty value", async () => {
    const h = setup();
    await createNet(h);
    await createEp(h);
    assert.deepEqual(h.driver.endpointInfo({ networkId: NET, endpointId: EP }), {
      Value: { mac: endpointMac(EP, "10.32.0.2"), veth: "vweabcdef0123", ipv4: "10.32.0.2/24" },
    });
    assert.deepEqual(h.driver.endpointInfo({ networkId: NET, endpointId: EP2 }), { Value: {} });
  });
});

void describe("endpointMac", () => {
  void it("is deterministic, locally administered and unicast", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), (id) => {
        const mac = endpointMac(id);
        assert.equal(mac, endpointMac(id));
        assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
        const first = parseInt(mac.slice(0, 2), 16);
        assert.equal(first & 0x02, 0x02, "locally administered");
        assert.equal(first & 0x01, 0, "unicast");
      }),
    );
    assert.notEqual(endpointMac(EP), endpointMac(EP2));
  });
});

void describe("network-spec", () => {
  void it("parseNetworkOptions reads internal (bool or string), MTU, bridge and unknown options", () => {
    assert.deepEqual(parseNetworkOptions({}), {
      internal: false,
      mtu: undefined,
      bridge: undefined,
      clusterId: undefined,
      unknown: [],
    });
    assert.deepEqual(
      parseNetworkOptions({
        "com.docker.network.internal": "true",
        "com.docker.network.generic": {
          "com.docker.network.driver.mtu": "9000",
          "com.docker.network.bridge.name": "weave-blue",
          "some.other": "x",
          "weave.cluster.id": "0123456789abcdef",
        },
      }),
      {
        internal: true,
        mtu: 9000,
        bridge: "weave-blue",
        clusterId: "0123456789abcdef",
        unknown: ["some.other"],
      },
    );
    assert.throws(
      () => parseNetworkOptions({ "com.docker.network.generic": { "weave.cluster.id": "x" } }),
      /weave\.cluster\.id="x": weave sets it itself/,
    );
    assert.equal(parseNetworkOptions({ "com.docker.network.internal": false }).internal, false);
    assert.equal(parseNetworkOptions({ "com.docker.network.generic": null }).unknown.length, 0);
  });

  void it("desiredDataplane builds bridges, veths and policies from the records", async () => {
    const h = setup();
    await createNet(h);
    await createNet(h, {
      id: NET2,
      options: { ...BASE_OPTIONS, "com.docker.network.internal": true },
      ipv4: [{ Pool: "10.32.1.0/24", Gateway: "10.32.1.1/24" }],
    });
    await createEp(h);
    await createEp(h, { id: EP2, net: NET2, address: "10.32.1.2/24" });
    const networks = h.state.listNetworks();
    const endpoints = h.state.listEndpoints();
    const desired = desiredDataplane(networks, endpoints);
    assert.deepEqual(desired.bridges, [
      { name: "weave-1a2b3c4d5", mtu: 1450, addresses: ["10.32.0.1/24"] },
      { name: "weave-998877665", mtu: 1450, addresses: ["10.32.1.1/24"] },
    ]);
    assert.deepEqual(desired.veths, [
      {
        hostName: "vweabcdef0123",
        peerName: "vwpabcdef0123",
        bridge: "weave-1a2b3c4d5",
        mtu: 1450,
        peerMac: endpointMac(EP, "10.32.0.2"),
      },
      {
        hostName: "vwe0123456789",
        peerName: "vwp0123456789",
        bridge: "weave-998877665",
        mtu: 1450,
        peerMac: endpointMac(EP2, "10.32.1.2"),
      },
    ]);
    assert.deepEqual(desired.policies, [
      { bridge: "weave-1a2b3c4d5", subnets: ["10.32.0.0/24"], internal: false, gateways: ["10.32.0.1"] },
      { bridge: "weave-998877665", subnets: ["10.32.1.0/24"], internal: true, gateways: ["10.32.1.1"] },
    ]);
    assert.deepEqual(desired.bridges, networks.map(bridgeSpec));
    assert.deepEqual(desired.policies, networks.map(networkPolicy));
    const ep = endpoints[0];
    const n = networks[0];
    assert.ok(ep && n);
    assert.deepEqual(desired.veths[0], vethSpec(ep, n));
    // Endpoints of unknown networks are skipped.
    assert.equal(desiredDataplane([], endpoints).veths.length, 0);

    // A fresh data plane reconciled to the desired state has exactly the driver's links.
    const fresh = new FakeDataplane();
    await fresh.reconcile(desired);
    await fresh.applyPolicies(desired.policies);
    assert.deepEqual([...fresh.links.keys()].sort(), [...h.dp.links.keys()].sort());
    assert.deepEqual(fresh.policies, h.dp.policies);
  });
});
