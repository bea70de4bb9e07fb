/**
 * The control API's route table (controlRoutes): every route's answer and its errors, over SQLite
 * state, FakeDocker, a DnsService that does not listen, and a Cluster over an in-memory store;
 * then the same table behind a ControlServer, for the HTTP answers the CLI gets.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import type { ClusterPort } from "../../../src/cluster/index.js";
import { blockKey, Cluster, dnsKey, LocalCluster, peerKey } from "../../../src/cluster/index.js";
import { parseConfig } from "../../../src/config/index.js";
import { isWeaveError, KeyedSerialQueue, silentLogger, VERSION } from "../../../src/core/index.js";
import type { ErrorCode } from "../../../src/core/index.js";
import { controlRoutes } from "../../../src/daemon/control-routes.js";
import { ControlServer } from "../../../src/daemon/control-server.js";
import { DnsService } from "../../../src/daemon/dns-service.js";
import type { DockerSync } from "../../../src/daemon/docker-sync.js";
import { fakeTransports } from "../../helpers/transport-fakes.js";
import { FakeDocker } from "../../../src/docker/index.js";
import { IpamService, parsePrefix } from "../../../src/ipam/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";
import { until } from "../../helpers/wait.js";

const NET_ID = "a".repeat(64);
const EP_ID = "e".repeat(64);
const WEB_ID = "1".repeat(64);

const dir = mkdtempSync(join(tmpdir(), "weave-control-routes-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What the routes read of the Docker sync. */
function syncSeen(status: DockerSync["status"], lastError = ""): DockerSync {
  const seen: Pick<DockerSync, "status" | "lastError" | "defaultNetworkReady"> = {
    status,
    lastError,
    defaultNetworkReady: status === "reachable",
  };
  return seen as DockerSync;
}

/** A host with network app (one container, web) and, as asked, weaveDNS and a cluster. */
async function daemon(o: { dns?: boolean; cluster?: boolean; sync?: DockerSync } = {}) {
  const config = parseConfig(["--dns-workers", "0", "--docker-socket", "/nonexistent/docker.sock"], {});
  const state = openSqliteState(":memory:");
  const docker = new FakeDocker();
  docker.addNetwork({ Id: NET_ID, Name: "app", Driver: "weave" });
  docker.addContainer(NET_ID, WEB_ID, {
    Name: "web",
    EndpointID: EP_ID,
    MacAddress: "02:42:0a:20:00:02",
    IPv4Address: "10.32.0.2/24",
    IPv6Address: "",
  });
  docker.putContainer({
    Id: WEB_ID,
    Name: "/web",
    State: { Running: true },
    Config: { Hostname: "web", Domainname: "" },
    NetworkSettings: {
      Networks: {
        app: {
          NetworkID: NET_ID,
          EndpointID: EP_ID,
          IPAddress: "10.32.0.2",
          GlobalIPv6Address: "",
          MacAddress: "02:42:0a:20:00:02",
          Aliases: [],
        },
      },
    },
  });
  state.putNetwork({
    id: NET_ID,
    bridge: "weave-aaaaaaaaa",
    mtu: 1410,
    internal: false,
    ipv4: [{ Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }],
    ipv6: [],
    options: {},
    createdAt: 0,
  });
  state.putEndpoint({
    id: EP_ID,
    networkId: NET_ID,
    hostIf: "vweeeeeeeeee",
    peerIf: "vwpeeeeeeeee",
    mac: "02:42:0a:20:00:02",
    ipv4: "10.32.0.2/24",
    ipv6: null,
    sandboxKey: null,
    createdAt: 0,
  });
  const dns = o.dns
    ? new DnsService({ config, state, docker, queue: new KeyedSerialQueue(), logger: silentLogger })
    : undefined;
  const store = new MemoryClusterStore();
  // As the daemon builds it from the same config (a fixed ULA range stands for the host's).
  const range = parsePrefix(config.ipallocRange, { strict: true });
  const ipamConfig = { range, subnetBits: 24, subnetBitsV6: 64, replayWindowMs: 60_000 };
  const ipam = new IpamService(state, { ...ipamConfig, rangeV6: parsePrefix("fd00:1::/48") }, Date.now);
  let cluster: ClusterPort = new LocalCluster({ ipam, pools: state });
  if (o.cluster) {
    const c = new Cluster({
      store,
      storeUrl: "etcd://test",
      state,
      docker,
      ipam,
      ...fakeTransports(),
      logger: silentLogger,
      now: () => Date.now(),
      name: "a",
      advertiseAddr: "192.0.2.1",
      vxlanPort: 4789,
      driverName: "weave",
      defaultNetwork: "",
    });
    c.start();
    cleanups.push(() => c.close());
    await until("registered in the store", () => c.status().registered);
    cluster = c;
  }
  cleanups.push(() => dns?.close());
  let stops = 0;
  const routes = controlRoutes({
    config,
    state,
    docker,
    sync: o.sync ?? syncSeen("reachable"),
    dns,
    mtu: 1410,
    cluster,
    stop: () => stops++,
  });
  const call = (route: string, body?: unknown, query = ""): Promise<unknown> => {
    const handler = routes[route];
    assert.ok(handler, `route ${route}`);
    return handler({ query: new URLSearchParams(query), body });
  };
  return { routes, call, state, docker, store, stops: () => stops };
}

async function refused(p: Promise<unknown>, code: ErrorCode, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const NO_DNS = "weaveDNS is off (weave was launched with --no-dns)";
const NO_CLUSTER = "This host is not in a cluster (weave was launched without --store)";

void describe("controlRoutes", () => {
  void it("has exactly the control calls the CLI makes", async () => {
    const { routes } = await daemon();
    assert.deepEqual(Object.keys(routes).sort(), [
      "GET /dns",
      "GET /dns/lookup",
      "GET /peers",
      "GET /ps",
      "GET /status",
      "POST /dns/add",
      "POST /dns/remove",
      "POST /rmpeer",
      "POST /stop",
      "POST /wireguard/rotate",
    ]);
  });

  void it("GET /status: this host, its networks, Docker as the sync sees it, weaveDNS and the cluster", async () => {
    const single = await daemon({ sync: syncSeen("unreachable", "connect ENOENT /var/run/docker.sock") });
    const status = (await single.call("GET /status")) as Record<string, unknown>;
    assert.equal(status["version"], VERSION);
    assert.equal(status["mtu"], 1410);
    assert.deepEqual(status["docker"], {
      status: "unreachable",
      error: "connect ENOENT /var/run/docker.sock",
    });
    assert.deepEqual(status["defaultNetwork"], { name: "weave", ready: false });
    assert.deepEqual(status["networks"], [
      {
        id: NET_ID,
        name: "app",
        bridge: "weave-aaaaaaaaa",
        subnets: ["10.32.0.0/24"],
        gateways: ["10.32.0.1"],
        internal: false,
        mtu: 1410,
        endpoints: 1,
      },
    ]);
    assert.equal(status["dns"], null);
    assert.equal(status["cluster"], null);

    const full = await daemon({ dns: true, cluster: true });
    const both = (await full.call("GET /status")) as { dns: { domain: string }; cluster: { name: string } };
    assert.equal(both.dns.domain, "weave.local.");
    assert.equal(both.cluster.name, "a");
  });

  void it("GET /ps: one row per endpoint, with its container from Docker", async () => {
    const { call, docker } = await daemon();
    const row = {
      container: "web",
      containerId: WEB_ID.slice(0, 12),
      network: "app",
      endpoint: EP_ID.slice(0, 12),
      mac: "02:42:0a:20:00:02",
      ip: "10.32.0.2/24",
      ipv6: "",
      ports: [],
    };
    assert.deepEqual(await call("GET /ps"), [row]);
    docker.reachable = false;
    assert.deepEqual(
      await call("GET /ps"),
      [{ ...row, container: "", containerId: "", network: NET_ID.slice(0, 12) }],
      "what weave knows when Docker does not answer",
    );
  });

  void it("POST /stop asks the daemon to stop", async () => {
    const { call, stops } = await daemon();
    assert.deepEqual(await call("POST /stop"), { stopping: true });
    assert.equal(stops(), 1);
  });

  void it("weaveDNS routes: add, look up, list and remove records; refused with --no-dns", async () => {
    const { call, state } = await daemon({ dns: true });
    const added = (await call("POST /dns/add", {
      ips: ["10.9.9.9", 7, null],
      fqdn: "ext.weave.local",
      container: "",
      network: "",
    })) as { added: { fqdn: string; address: string; containerId: string; network: string }[] };
    assert.deepEqual(
      added.added.map((r) => [r.fqdn, r.address, r.containerId, r.network]),
      [["ext.weave.local.", "10.9.9.9", "", ""]],
    );
    assert.equal(state.listDnsRecords().length, 1);
    assert.deepEqual(await call("GET /dns/lookup", undefined, "name=ext"), {
      name: "ext",
      addresses: ["10.9.9.9"],
    });
    await call("POST /dns/add", { container: "web", fqdn: "alias.weave.local", network: "app" });
    const listed = (await call("GET /dns")) as { status: { entries: number }; entries: { name: string }[] };
    assert.deepEqual(
      listed.entries.map((e) => e.name),
      ["alias.weave.local.", "ext.weave.local.", "web.weave.local."],
    );
    assert.equal(listed.status.entries, 3);
    assert.deepEqual(await call("POST /dns/remove", { ips: [], fqdn: "ext.weave.local" }), { removed: 1 });
    assert.deepEqual(await call("GET /dns/lookup", undefined, "name=ext"), { name: "ext", addresses: [] });

    await refused(call("GET /dns/lookup"), "WEAVE_BAD_REQUEST", "Give a name to look up");
    await refused(
      call("POST /dns/add", null),
      "WEAVE_BAD_REQUEST",
      "Give a container or a name with -h FQDN",
    );
    await refused(
      call("POST /dns/add", { ips: ["nope"], fqdn: "x" }),
      "WEAVE_BAD_REQUEST",
      `Invalid IP address "nope"`,
    );
    await refused(
      call("POST /dns/add", { ips: ["10.9.9.9"], fqdn: "x", network: "nosuch" }),
      "WEAVE_NOT_FOUND",
      `No weave network "nosuch" on this host (--net)`,
    );
    await refused(
      call("POST /dns/remove", { container: "gone" }),
      "WEAVE_NOT_FOUND",
      /^No such container "gone"/,
    );

    const off = await daemon();
    for (const [route, body, query] of [
      ["GET /dns", undefined, ""],
      ["GET /dns/lookup", undefined, "name=ext"],
      ["POST /dns/add", { ips: ["10.9.9.9"], fqdn: "ext" }, ""],
      ["POST /dns/remove", { ips: [], fqdn: "ext" }, ""],
    ] as const) {
      await refused(off.call(route, body, query), "WEAVE_UNSUPPORTED", NO_DNS);
    }
  });

  void it("cluster routes: peers, and rmpeer for a host that is gone; refused without --store", async () => {
    const { call, store } = await daemon({ cluster: true });
    const peers = (await call("GET /peers")) as {
      name: string;
      registered: boolean;
      peers: { name: string }[];
    };
    assert.equal(peers.name, "a");
    assert.equal(peers.registered, true);
    assert.deepEqual(
      peers.peers.map((p) => p.name),
      ["a"],
    );

    await store.put(
      blockKey("00000000000000c1", "10.32.0.16/28"),
      JSON.stringify({ host: "b", createdAt: 0 }),
    );
    await store.put(
      blockKey("00000000000000c1", "10.32.0.32/28"),
      JSON.stringify({ host: "b", createdAt: 0 }),
    );
    await store.put(dnsKey("b", "c:abc"), JSON.stringify({ entries: [] }));
    assert.deepEqual(await call("POST /rmpeer", { name: "b" }), { peer: "b", blocksReleased: 2 });
    assert.equal(await store.get(dnsKey("b", "c:abc")), undefined);

    await refused(call("POST /rmpeer", {}), "WEAVE_BAD_REQUEST", "Give the name of the peer to remove");
    await refused(
      call("POST /rmpeer", { name: 3 }),
      "WEAVE_BAD_REQUEST",
      "Give the name of the peer to remove",
    );
    await refused(
      call("POST /rmpeer", { name: "a" }),
      "WEAVE_BAD_REQUEST",
      `"a" is this host: run weave rmpeer on another host`,
    );
    await store.put(peerKey("c"), JSON.stringify({ name: "c", address: "192.0.2.3", vxlanPort: 4789 }));
    await refused(
      call("POST /rmpeer", { name: "c" }),
      "WEAVE_CONFLICT",
      /^Host "c" is registered in the cluster/,
    );

    const single = await daemon();
    await refused(single.call("GET /peers"), "WEAVE_UNSUPPORTED", NO_CLUSTER);
    await refused(single.call("POST /rmpeer", { name: "b" }), "WEAVE_UNSUPPORTED", NO_CLUSTER);
  });

  void it("behind the control socket: 200 with the answer, 400 / 404 / 500 with the error and its code", async () => {
    const { routes } = await daemon();
    const path = join(dir, "control.sock");
    const server = new ControlServer(path, routes, silentLogger);
    await server.start();
    cleanups.push(() => server.close());
    const get = (method: string, url: string): Promise<{ status: number; body: unknown }> =>
      new Promise((resolve, reject) => {
        const req = request({ socketPath: path, method, path: url }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
        });
        req.on("error", reject);
        req.end();
      });
    assert.deepEqual(await get("POST", "/stop"), { status: 200, body: { stopping: true } });
    const failures: [string, string, number, string, ErrorCode][] = [
      ["GET", "/dns/lookup", 400, "Give a name to look up", "WEAVE_BAD_REQUEST"],
      ["GET", "/dns/lookup?name=db", 500, NO_DNS, "WEAVE_UNSUPPORTED"],
      ["POST", "/rmpeer", 400, "Give the name of the peer to remove", "WEAVE_BAD_REQUEST"],
      ["GET", "/peers", 500, NO_CLUSTER, "WEAVE_UNSUPPORTED"],
    ];
    for (const [method, url, status, error, code] of failures) {
      assert.deepEqual(await get(method, url), { status, body: { error, code } }, `${method} ${url}`);
    }
    assert.equal((await get("GET", "/nosuch")).status, 404);
  });
});
