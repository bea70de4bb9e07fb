/**
 * DnsService as the daemon runs it (weaveDNS on, no worker processes), over FakeDocker, SQLite
 * state and, where Docker's event stream matters, a fake /events endpoint on a unix socket. The
 * networks' gateways are loopback addresses (127.0.62.1, 127.0.63.1) and the port is a random
 * high one, so the server listens on loopback only.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { parseConfig } from "../../../src/config/index.js";
import { isWeaveError, KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { DnsService } from "../../../src/daemon/dns-service.js";
import { decodeMessage, encodeQuery, Rcode, RRType } from "../../../src/dns/index.js";
import type { DockerContainer } from "../../../src/docker/index.js";
import { FakeDocker } from "../../../src/docker/index.js";
import type { DnsRecord, LocalState } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";
import { sleep, until } from "../../helpers/wait.js";

const APP_ID = "a".repeat(64);
const DB_ID = "b".repeat(64);
const BRIDGE_ID = "f".repeat(64);
const WEB_ID = "1".repeat(64);
const API_ID = "2".repeat(64);
const APP_GW = "127.0.62.1";
const DB_GW = "127.0.63.1";

const dir = mkdtempSync(join(tmpdir(), "weave-dns-service-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Docker's event stream (GET /events), kept open; `emit` sends one event to every listener. */
class DockerEvents {
  readonly path = join(dir, `docker${++seq}.sock`);
  private readonly streams = new Set<ServerResponse>();
  private nano = 1_000_000_000_000;
  private readonly server = createServer((req, res) => {
    if (!req.url?.startsWith("/v1.41/events")) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    this.streams.add(res);
    res.on("close", () => this.streams.delete(res));
  });

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.path, resolve));
    cleanups.push(() => this.close());
  }

  emit(
    type: "container" | "network",
    action: string,
    id: string,
    attributes: Record<string, string> = {},
  ): void {
    this.nano += 1_000;
    const event = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      time: Math.floor(this.nano / 1e9),
      timeNano: this.nano,
    };
    for (const s of this.streams) s.write(`${JSON.stringify(event)}\n`);
  }

  private close(): Promise<void> {
    for (const s of this.streams) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function networkRecord(id: string, gateway: string) {
  const base = gateway.replace(/\.1$/, "");
  return {
    id,
    bridge: `weave-${id.slice(0, 9)}`,
    mtu: 1450,
    internal: false,
    ipv4: [{ Pool: `${base}.0/24`, Gateway: `${gateway}/24` }],
    ipv6: [],
    options: {},
    createdAt: 0,
  };
}

/** A running container on weave network app (10.32.0.x) and on Docker's bridge. */
function container(id: string, name: string, ip: string, running = true): DockerContainer {
  const endpoint = (networkId: string, address: string) => ({
    NetworkID: networkId,
    EndpointID: `e-${networkId.slice(0, 4)}`,
    IPAddress: address,
    GlobalIPv6Address: "",
    MacAddress: "",
    Aliases: [],
  });
  return {
    Id: id,
    Name: `/${name}`,
    State: { Running: running },
    Config: { Hostname: id.slice(0, 12), Domainname: "" },
    NetworkSettings: { Networks: { app: endpoint(APP_ID, ip), bridge: endpoint(BRIDGE_ID, "172.17.0.2") } },
  };
}

/** Networks app (weave), db (weave, unless `withDb` is false) and bridge; the container web on app. */
function world(state: LocalState = openSqliteState(":memory:"), withDb = true) {
  const docker = new FakeDocker();
  docker.addNetwork({ Id: APP_ID, Name: "app", Driver: "weave" });
  docker.addNetwork({ Id: BRIDGE_ID, Name: "bridge", Driver: "bridge" });
  if (state.listNetworks().length === 0) state.putNetwork(networkRecord(APP_ID, APP_GW));
  if (withDb) {
    docker.addNetwork({ Id: DB_ID, Name: "db", Driver: "weave" });
    if (!state.getNetwork(DB_ID)) state.putNetwork(networkRecord(DB_ID, DB_GW));
  }
  docker.putContainer(container(WEB_ID, "web", "10.32.0.2"));
  return { state, docker };
}

function service(
  state: LocalState,
  docker: FakeDocker,
  port: number,
  dockerSocket: string,
  extra: string[] = [],
) {
  const config = parseConfig(
    [
      ...["--dns-port", String(port), "--dns-workers", "0", "--dns-upstream", "127.0.0.1:9"],
      ...["--docker-socket", dockerSocket, ...extra],
    ],
    {},
  );
  const s = new DnsService({ config, state, docker, queue: new KeyedSerialQueue(), logger: silentLogger });
  cleanups.push(() => s.close());
  return s;
}

/** A started service on a random high port (another one when that port is taken). */
async function started(state: LocalState, docker: FakeDocker, dockerSocket: string, extra: string[] = []) {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const s = service(state, docker, port, dockerSocket, extra);
    await s.start();
    if (s.status().error === "" || attempt > 5) return { s, port };
    await s.close();
  }
}

/** A UDP question to `server:port` from loopback; resolves with the A addresses and the rcode. */
async function ask(server: string, port: number, name: string): Promise<{ rcode: number; ips: string[] }> {
  const client = dgram.createSocket("udp4");
  try {
    const reply = new Promise<Buffer>((resolve) => client.once("message", resolve));
    client.send(encodeQuery(name, RRType.A, { id: 5 }), port, server);
    const msg = await Promise.race([
      reply,
      sleep(1_000).then(() => assert.fail(`no reply from ${server}:${port}`)),
    ]);
    const d = decodeMessage(msg);
    assert.ok(d);
    const ips = d.answers
      .filter((a) => a.type === RRType.A)
      .map((a) => msg.subarray(a.rdataOffset, a.rdataOffset + 4).join("."));
    return { rcode: d.rcode, ips };
  } finally {
    client.close();
  }
}

const withoutTime = (records: DnsRecord[]) => records.map(({ createdAt: _, ...r }) => r);
const STRANGER = "192.0.2.50";

void describe("DnsService", () => {
  void it("listens on the gateways, registers Docker's running containers, and follows network and container events", async () => {
    const { state, docker } = world(openSqliteState(":memory:"), false);
    const events = new DockerEvents();
    await events.listen();
    const { s, port } = await started(state, docker, events.path, ["--nameserver", "127.0.0.1"]);
    assert.deepEqual(
      s.status().addresses.sort(),
      ["127.0.0.1", APP_GW],
      "the gateway and a local --nameserver",
    );
    await until("web registered", () => s.lookup("web.weave.local").length > 0);
    assert.deepEqual(s.lookup("web"), ["10.32.0.2"]);
    assert.deepEqual(await ask(APP_GW, port, "web.weave.local."), {
      rcode: Rcode.NOERROR,
      ips: ["10.32.0.2"],
    });
    assert.deepEqual(s.status(), {
      domain: "weave.local.",
      addresses: s.status().addresses,
      port,
      error: "",
      entries: 1,
      eventsConnected: true,
      skipped: [],
    });
    // A question from no container's address at app's gateway sees app's names.
    await until("gateways known", () => s.zone.viewFor(STRANGER, APP_GW).scopes?.has("app") === true);

    // docker network create db: the driver records it (and listens), Docker says so.
    state.putNetwork(networkRecord(DB_ID, DB_GW));
    docker.addNetwork({ Id: DB_ID, Name: "db", Driver: "weave" });
    await s.updateAddresses();
    assert.deepEqual(s.status().addresses.sort(), ["127.0.0.1", APP_GW, DB_GW]);
    events.emit("network", "create", DB_ID, { name: "db", type: "weave" });
    await until("db's gateway known", () => s.zone.viewFor(STRANGER, DB_GW).scopes?.has("db") === true);

    // A container starts on app, then dies.
    docker.putContainer(container(API_ID, "api", "10.32.0.3"));
    events.emit("container", "start", API_ID);
    await until("api registered", () => s.lookup("api").length > 0);
    docker.putContainer(container(API_ID, "api", "10.32.0.3", false));
    events.emit("container", "die", API_ID);
    await until("api removed", () => s.lookup("api").length === 0);

    // docker network rm db.
    state.deleteNetwork(DB_ID);
    docker.networks.delete(DB_ID);
    await s.updateAddresses();
    assert.deepEqual(s.status().addresses.sort(), ["127.0.0.1", APP_GW]);
    events.emit("network", "destroy", DB_ID);
    await until("db's gateway forgotten", () => s.zone.viewFor(STRANGER, DB_GW).scopes === undefined);
    assert.deepEqual([...(s.zone.viewFor(STRANGER, APP_GW).scopes ?? [])], ["app"]);
  });

  void it("dns-add and dns-remove records for a name, for every network or one (--net)", async () => {
    const { state, docker } = world();
    const s = service(state, docker, 53, "/nonexistent/docker.sock");
    const added = await s.add({ ips: ["10.9.9.9"], fqdn: "ext.weave.local" });
    assert.deepEqual(withoutTime(added), [
      { fqdn: "ext.weave.local.", address: "10.9.9.9", containerId: "", network: "" },
    ]);
    assert.deepEqual(s.lookup("ext"), ["10.9.9.9"]);
    assert.deepEqual(s.entries(), [
      {
        name: "ext.weave.local.",
        address: "10.9.9.9",
        origin: "manual",
        container: "",
        host: "",
        network: "",
      },
    ]);

    await s.add({ ips: ["10.9.9.10", "FD00::10"], fqdn: "int", network: "app" });
    await s.add({ ips: ["10.9.9.11"], fqdn: "byid.weave.local.", network: DB_ID });
    assert.deepEqual(
      withoutTime(state.listDnsRecords()).sort((a, b) => a.address.localeCompare(b.address)),
      [
        { fqdn: "int.weave.local.", address: "10.9.9.10", containerId: "", network: "app" },
        { fqdn: "byid.weave.local.", address: "10.9.9.11", containerId: "", network: "db" },
        { fqdn: "ext.weave.local.", address: "10.9.9.9", containerId: "", network: "" },
        { fqdn: "int.weave.local.", address: "fd00::10", containerId: "", network: "app" },
      ],
    );
    const seen = (name: string, scope: string) =>
      s.zone.lookup(name, RRType.A, 1, s.zone.view([scope])).kind === "answer";
    assert.ok(seen("int.weave.local.", "app"));
    assert.ok(!seen("int.weave.local.", "db"), "only app's containers see it");
    assert.ok(seen("ext.weave.local.", "db"), "a record without --net is seen by every network");
    await assert.rejects(
      s.add({ ips: ["10.9.9.12"], fqdn: "x", network: "bridge" }),
      (err) =>
        isWeaveError(err, "WEAVE_NOT_FOUND") &&
        err.message === `No weave network "bridge" on this host (--net)`,
    );

    assert.equal(
      await s.remove({ ips: ["10.9.9.10"], fqdn: "int", network: "db" }),
      0,
      "not on that network",
    );
    assert.equal(await s.remove({ ips: ["10.9.9.10"], fqdn: "int" }), 1);
    assert.deepEqual(s.lookup("int"), ["fd00::10"]);
    assert.equal(await s.remove({ ips: [], fqdn: "int.weave.local." }), 1, "every address of the name");
    assert.deepEqual(s.lookup("int"), []);
    assert.equal(await s.remove({ ips: [], fqdn: "nosuch" }), 0);
    assert.deepEqual(
      state.listDnsRecords().map((r) => r.fqdn),
      ["byid.weave.local.", "ext.weave.local."],
    );
  });

  void it("dns-add for a container: its weave addresses, tied to it; dns-remove takes only the record", async () => {
    const { state, docker } = world();
    const s = service(state, docker, 53, "/nonexistent/docker.sock");
    const added = await s.add({ ips: [], container: "web", fqdn: "alias.weave.local" });
    assert.deepEqual(withoutTime(added), [
      { fqdn: "alias.weave.local.", address: "10.32.0.2", containerId: WEB_ID, network: "" },
    ]);
    assert.deepEqual(s.lookup("alias"), ["10.32.0.2"]);
    assert.deepEqual(s.lookup("web"), ["10.32.0.2"], "the container's own name comes with it");
    assert.deepEqual(
      s.entries().map((e) => [e.name, e.origin, e.container]),
      [
        ["alias.weave.local.", "container", WEB_ID.slice(0, 12)],
        ["web.weave.local.", "container", WEB_ID.slice(0, 12)],
      ],
    );
    await s.add({ ips: ["10.9.9.20"], container: WEB_ID });
    assert.deepEqual(s.lookup("web").sort(), ["10.32.0.2", "10.9.9.20"], "by ID, under the container's name");
    await assert.rejects(s.add({ ips: [], container: "nosuch" }), (err) =>
      isWeaveError(err, "WEAVE_NOT_FOUND"),
    );

    assert.equal(await s.remove({ ips: [], container: "web", fqdn: "alias.weave.local" }), 1);
    assert.deepEqual(s.lookup("alias"), []);
    assert.deepEqual(s.lookup("web").sort(), ["10.32.0.2", "10.9.9.20"]);
  });

  void it("refuses invalid changes and writes nothing", async () => {
    const { state, docker } = world();
    const s = service(state, docker, 53, "/nonexistent/docker.sock");
    const refused = async (change: Parameters<DnsService["add"]>[0], message: string): Promise<void> => {
      await assert.rejects(
        s.add(change),
        (err) => isWeaveError(err, "WEAVE_BAD_REQUEST") && err.message === message,
      );
    };
    await refused({ ips: ["10.9.9.300"], fqdn: "x" }, `Invalid IP address "10.9.9.300"`);
    await refused({ ips: ["10.9.9.9"] }, "Give a container or a name with -h FQDN");
    await refused(
      { ips: ["10.9.9.9"], fqdn: "x.example.com" },
      `"x.example.com" is not a valid name in the domain weave.local.`,
    );
    await refused({ ips: [], fqdn: "x" }, "No address to add for x.weave.local.: give IP addresses");
    assert.deepEqual(state.listDnsRecords(), []);
    assert.deepEqual(s.entries(), []);
  });

  void it("records added by hand survive a restart; reconcile drops what Docker no longer runs", async () => {
    const path = join(dir, `weave${++seq}.db`);
    const first = world(openSqliteState(path));
    const before = service(first.state, first.docker, 53, "/nonexistent/docker.sock");
    await before.add({ ips: ["10.9.9.9"], fqdn: "ext", network: "app" });
    await before.add({ ips: [], container: "web", fqdn: "alias" });
    await before.close();
    first.state.close();

    const state = openSqliteState(path);
    cleanups.push(() => state.close());
    const { docker } = world(state);
    docker.putContainer(container(API_ID, "api", "10.32.0.3"));
    const { s } = await started(state, docker, "/nonexistent/docker.sock");
    assert.deepEqual(s.lookup("ext"), ["10.9.9.9"], "reloaded from the state at start");
    assert.equal(s.entries()[0]?.network, "app");
    await s.reconcile();
    assert.deepEqual(s.lookup("alias"), ["10.32.0.2"], "tied to web, which runs");
    assert.deepEqual(s.lookup("api"), ["10.32.0.3"]);

    docker.putContainer(container(API_ID, "api", "10.32.0.3", false)); // stopped while no event came
    docker.containers.delete(WEB_ID); // removed
    await s.reconcile();
    assert.deepEqual(s.lookup("api"), []);
    assert.deepEqual(s.lookup("web"), []);
    assert.deepEqual(s.lookup("alias"), []);
    assert.deepEqual(
      state.listDnsRecords().map((r) => r.fqdn),
      ["ext.weave.local."],
      "records tied to a removed container are deleted",
    );
  });
});
