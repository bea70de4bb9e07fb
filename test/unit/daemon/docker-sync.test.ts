import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { DockerSync } from "../../../src/daemon/docker-sync.js";
import { FakeDataplane } from "../../../src/dataplane/index.js";
import { FakeDocker } from "../../../src/docker/index.js";
import { NetworkDriver } from "../../../src/driver/index.js";
import { IpamService, parsePrefix } from "../../../src/ipam/index.js";
import type { LocalState } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const GRACE = 30_000;

function setup() {
  const clock = { t: 1_000_000 };
  // The loop's timers run on stepped time; tests move records' ages with clock.t, the loop with timers.
  const timers = new FakeClock();
  const now = () => clock.t + timers.now();
  const state: LocalState = openSqliteState(":memory:");
  const dataplane = new FakeDataplane();
  const docker = new FakeDocker();
  const queue = new KeyedSerialQueue();
  const driver = new NetworkDriver({
    state,
    dataplane,
    queue,
    logger: silentLogger,
    config: { mtu: 1450, nameserver: undefined },
    now,
    cluster: { bindNetwork: () => Promise.resolve(undefined) },
  });
  const ipam = new IpamService(
    state,
    {
      range: parsePrefix("10.32.0.0/12"),
      subnetBits: 24,
      rangeV6: parsePrefix("fd00:1:2::/48"),
      subnetBitsV6: 64,
      replayWindowMs: 60_000,
    },
    now,
  );
  const sync = new DockerSync({
    docker,
    dataplane,
    driverName: "weave",
    state,
    driver,
    ipam,
    logger: silentLogger,
    defaultNetwork: "weave",
    defaultBridge: "weave",
    now,
    graceMs: GRACE,
    intervalMs: 10_000,
    clock: timers,
  });
  return { clock, timers, state, dataplane, docker, driver, ipam, sync };
}

/** A weave network as Docker and weave both know it, with weave IPAM. */
async function weaveNetwork(h: ReturnType<typeof setup>, subnet: string) {
  const pool = await h.ipam.requestPool(
    { addressSpace: "LocalDefault", pool: subnet, subPool: "", options: {}, v6: false },
    async () => [],
  );
  const gw = await h.ipam.requestAddress({
    poolId: pool.poolId,
    address: "",
    options: { RequestAddressType: "com.docker.network.gateway" },
  });
  const id = h.docker.addNetwork({
    Name: `n-${subnet}`,
    Driver: "weave",
    IPAM: { Driver: "weave", Config: [{ Subnet: subnet, Gateway: gw.address.split("/")[0] ?? "" }] },
  });
  await h.driver.createNetwork({
    networkId: id,
    options: {},
    ipv4: [{ Pool: subnet, Gateway: gw.address }],
    ipv6: [],
  });
  return { id, poolId: pool.poolId };
}

async function endpoint(
  h: ReturnType<typeof setup>,
  net: { id: string; poolId: string },
  epId: string,
  inDocker: boolean,
) {
  const addr = await h.ipam.requestAddress({ poolId: net.poolId, address: "", options: {} });
  const res = await h.driver.createEndpoint({
    networkId: net.id,
    endpointId: epId,
    address: addr.address,
    addressIPv6: "",
    macAddress: "",
    options: {},
  });
  if (inDocker) {
    h.docker.addContainer(net.id, `c-${epId}`, {
      Name: `c-${epId.slice(0, 4)}`,
      EndpointID: epId,
      MacAddress: res.Interface?.MacAddress ?? "",
      IPv4Address: addr.address,
      IPv6Address: "",
    });
  }
  return addr.address;
}

void describe("DockerSync", () => {
  void it("creates the default network when Docker becomes reachable, and only then", async () => {
    const h = setup();
    await h.sync.syncNow();
    const created = [...h.docker.networks.values()].find((n) => n.Name === "weave");
    assert.ok(created, "default network created");
    assert.equal(created.Driver, "weave");
    assert.equal(created.IPAM.Driver, "weave");
    assert.equal(created.Options?.["com.docker.network.bridge.name"], "weave");
    assert.equal(h.sync.defaultNetworkReady, true);
    h.docker.networks.delete(created.Id); // a user removes it: not forced back while Docker stays up
    await h.sync.syncNow();
    assert.equal([...h.docker.networks.values()].filter((n) => n.Name === "weave").length, 0);
  });

  void it("retries the default network until Docker accepts it (a plugin still being enabled)", async () => {
    const h = setup();
    const create = h.docker.createNetwork.bind(h.docker);
    let refusals = 2;
    h.docker.createNetwork = async (body) => {
      if (refusals-- > 0)
        throw new Error(
          'Docker API POST /networks/create failed (500): plugin "weave:latest" found but disabled',
        );
      return create(body);
    };
    await h.sync.syncNow();
    assert.equal(h.sync.defaultNetworkReady, false);
    assert.match(h.sync.lastError, /found but disabled/);
    await h.sync.syncNow();
    assert.equal(h.sync.defaultNetworkReady, false);
    await h.sync.syncNow();
    assert.equal(h.sync.defaultNetworkReady, true, "created at the third pass");
    assert.equal([...h.docker.networks.values()].filter((n) => n.Name === "weave").length, 1);
  });

  void it("passes at start, then every 10 s; every second for a minute while the default network is refused", async () => {
    const h = setup();
    const passes: number[] = [];
    const ping = h.docker.ping.bind(h.docker);
    h.docker.ping = () => {
      passes.push(h.timers.now());
      return ping();
    };
    let refuse = true;
    const create = h.docker.createNetwork.bind(h.docker);
    h.docker.createNetwork = async (body) => {
      if (refuse) throw new Error("Docker API POST /networks/create failed (500): plugin found but disabled");
      return create(body);
    };
    h.docker.reachable = false;
    h.sync.start();
    await h.timers.advance(25_000);
    assert.deepEqual(passes, [0, 10_000, 20_000], "Docker unreachable: every 10 s");
    h.docker.reachable = true;
    await h.timers.advance(5_000);
    assert.deepEqual(passes.slice(3), [30_000]);
    await h.timers.advance(60_000);
    assert.equal(passes.length, 3 + 61, "every second from 30 s to 90 s");
    assert.equal(passes.at(-1), 90_000);
    await h.timers.advance(20_000);
    assert.deepEqual(passes.slice(64), [100_000, 110_000], "then every 10 s");
    refuse = false;
    await h.timers.advance(10_000);
    assert.equal(h.sync.defaultNetworkReady, true);
    await h.timers.advance(10_000);
    assert.deepEqual(passes.slice(64), [100_000, 110_000, 120_000, 130_000]);
    await h.sync.close();
    assert.equal(h.timers.pending, 0);
    await h.timers.advance(60_000);
    assert.equal(passes.length, 68, "no pass after close");
  });

  void it("syncNow joins the pass under way instead of queueing another", async () => {
    const h = setup();
    let pings = 0;
    let release: () => void = () => undefined;
    h.docker.ping = () => {
      // The first ping waits for the test; any later one answers at once.
      if (pings++ > 0) return Promise.resolve();
      return new Promise<void>((resolve) => (release = resolve));
    };
    const first = h.sync.syncNow();
    const second = h.sync.syncNow();
    release();
    await Promise.all([first, second]);
    assert.equal(pings, 1);
  });

  void it("reports Docker unreachable and does nothing else", async () => {
    const h = setup();
    h.docker.reachable = false;
    await h.sync.syncNow();
    assert.equal(h.sync.status, "unreachable");
    assert.match(h.sync.lastError, /Cannot reach Docker/);
    assert.equal(h.dataplane.commands.length, 0);
  });

  void it("removes endpoints Docker no longer has, after the grace period only", async () => {
    const h = setup();
    const net = await weaveNetwork(h, "10.40.0.0/24");
    await endpoint(h, net, "a".repeat(64), true);
    const lost = await endpoint(h, net, "b".repeat(64), false);
    await h.sync.syncNow();
    assert.equal(h.state.listEndpoints(net.id).length, 2, "young endpoints are kept");
    h.clock.t += GRACE + 1;
    await h.sync.syncNow();
    assert.deepEqual(
      h.state.listEndpoints(net.id).map((e) => e.id),
      ["a".repeat(64)],
    );
    assert.ok(!h.dataplane.links.has("vwebbbbbbbbbb"), "its veth is gone");
    const addresses = h.state.listAddresses(net.poolId).map((a) => a.address);
    assert.ok(!addresses.includes(lost.split("/")[0] ?? ""), "its address is free");
    assert.ok(addresses.includes("10.40.0.1"), "the gateway stays");
  });

  void it("removes networks Docker no longer has, with their bridge and rules", async () => {
    const h = setup();
    const net = await weaveNetwork(h, "10.41.0.0/24");
    h.docker.networks.delete(net.id);
    h.clock.t += GRACE + 1;
    await h.sync.syncNow();
    assert.equal(h.state.getNetwork(net.id), undefined);
    assert.ok(!h.dataplane.links.has(`weave-${net.id.slice(0, 9)}`));
    assert.equal(h.state.getPool(net.poolId), undefined, "its pool is freed too");
  });

  void it("keeps pools and addresses of networks of other drivers that use weave IPAM", async () => {
    const h = setup();
    const pool = await h.ipam.requestPool(
      { addressSpace: "LocalDefault", pool: "", subPool: "", options: {}, v6: false },
      async () => [],
    );
    const gw = await h.ipam.requestAddress({
      poolId: pool.poolId,
      address: "",
      options: { RequestAddressType: "com.docker.network.gateway" },
    });
    const addr = await h.ipam.requestAddress({ poolId: pool.poolId, address: "", options: {} });
    const id = h.docker.addNetwork({
      Name: "br",
      Driver: "bridge",
      IPAM: { Driver: "weave", Config: [{ Subnet: pool.pool, Gateway: gw.address.split("/")[0] ?? "" }] },
    });
    h.docker.addContainer(id, "c1", {
      Name: "c1",
      EndpointID: "e1",
      MacAddress: "",
      IPv4Address: addr.address,
      IPv6Address: "",
    });
    h.clock.t += GRACE + 1;
    await h.sync.syncNow();
    assert.ok(h.state.getPool(pool.poolId), "pool kept");
    assert.equal(h.state.listAddresses(pool.poolId).length, 2, "gateway and container address kept");
  });

  void it("frees pools no network uses and addresses nobody uses, after the grace period", async () => {
    const h = setup();
    const orphanPool = await h.ipam.requestPool(
      { addressSpace: "LocalDefault", pool: "", subPool: "", options: {}, v6: false },
      async () => [],
    );
    const net = await weaveNetwork(h, "10.42.0.0/24");
    const stray = await h.ipam.requestAddress({ poolId: net.poolId, address: "", options: {} });
    await h.sync.syncNow();
    assert.ok(h.state.getPool(orphanPool.poolId), "young pool kept");
    h.clock.t += GRACE + 1;
    await h.sync.syncNow();
    assert.equal(h.state.getPool(orphanPool.poolId), undefined);
    assert.equal(h.state.getAddress(net.poolId, stray.address.split("/")[0] ?? ""), undefined);
  });

  void it("adopts a weave network weave has no record of, with its pool, addresses and endpoints", async () => {
    const h = setup();
    const id = h.docker.addNetwork({
      Name: "lost",
      Driver: "weave",
      Internal: true,
      IPAM: {
        Driver: "weave",
        Config: [
          {
            Subnet: "10.50.0.0/24",
            IPRange: "10.50.0.128/25",
            Gateway: "10.50.0.1",
            AuxiliaryAddresses: { r: "10.50.0.9" },
          },
        ],
      },
      Options: { "com.docker.network.driver.mtu": "1400" },
    });
    h.docker.addContainer(id, "c1", {
      Name: "c1",
      EndpointID: "e".repeat(64),
      MacAddress: "02:00:00:00:00:07",
      IPv4Address: "10.50.0.130/24",
      IPv6Address: "",
    });
    await h.sync.syncNow();
    const n = h.state.getNetwork(id);
    assert.ok(n, "network adopted");
    assert.equal(n.internal, true);
    assert.equal(n.mtu, 1400);
    assert.deepEqual(n.ipv4, [
      { Pool: "10.50.0.0/24", Gateway: "10.50.0.1/24", AuxAddresses: { r: "10.50.0.9/24" } },
    ]);
    const pool = h.state.listPools().find((p) => p.pool === "10.50.0.0/24");
    assert.equal(pool?.id, "LocalDefault/10.50.0.0/24/10.50.0.128/25", "the PoolID Docker stored");
    assert.deepEqual(
      h.state
        .listAddresses(pool.id)
        .map((a) => a.address)
        .sort(),
      ["10.50.0.1", "10.50.0.130", "10.50.0.9"],
    );
    const ep = h.state.getEndpoint("e".repeat(64));
    assert.equal(ep?.mac, "02:00:00:00:00:07");
    assert.equal(ep?.ipv4, "10.50.0.130/24");
    await assert.rejects(
      h.ipam.requestAddress({ poolId: pool.id, address: "10.50.0.130", options: {} }),
      /already in use/,
    );
  });

  void it("repairs the data plane: a lost bridge is recreated, orphans removed, rules re-applied", async () => {
    const h = setup();
    const net = await weaveNetwork(h, "10.43.0.0/24");
    const bridge = `weave-${net.id.slice(0, 9)}`;
    h.dataplane.links.delete(bridge);
    h.dataplane.addLink({ name: "weave-zzz", kind: "bridge", mtu: 1500, up: true, addresses: [] });
    h.dataplane.ruleset = "";
    await h.sync.syncNow();
    console.log(
      "DEBUG",
      bridge,
      h.state.listNetworks().map((n) => n.bridge),
      h.dataplane.commands.join(" ; "),
    );
    assert.ok(h.dataplane.links.has(bridge));
    assert.ok(!h.dataplane.links.has("weave-zzz"));
    assert.match(h.dataplane.ruleset, new RegExp(bridge));
  });
});

void describe("DockerSync with records stored before input validation", () => {
  void it("an endpoint record with an address that does not parse does not stop the pass", async () => {
    const h = setup();
    const net = await weaveNetwork(h, "10.41.0.0/24");
    const id = "c".repeat(64);
    await endpoint(h, net, id, true);
    const rec = h.state.getEndpoint(id);
    assert.ok(rec);
    h.state.putEndpoint({ ...rec, ipv6: "fd00::zz/64" });
    const stray = await h.ipam.requestAddress({ poolId: net.poolId, address: "", options: {} });
    h.clock.t += GRACE + 1;
    await h.sync.syncNow();
    assert.equal(h.sync.lastError, "");
    assert.equal(h.state.getAddress(net.poolId, stray.address.split("/")[0] ?? ""), undefined, "collected");
    assert.ok(h.state.getEndpoint(id), "the running container's endpoint stays");
  });
});
