import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCode } from "../../../src/core/index.js";
import { ScriptedHttp, isWeaveError } from "../../../src/core/index.js";
import { DockerClient } from "../../../src/docker/index.js";

const SOCK = "/run/test-docker.sock";
const at = (method: string, path: string) => `${method} unix:${SOCK}:${path}`;

function client(http: ScriptedHttp, timeoutMs?: number): DockerClient {
  return new DockerClient({ socketPath: SOCK, http, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

const NETWORK = {
  Id: "n1",
  Name: "mynet",
  Driver: "weave",
  Internal: false,
  Scope: "local",
  IPAM: {
    Driver: "weave",
    Config: [{ Subnet: "10.32.0.0/24", Gateway: "10.32.0.1", AuxiliaryAddresses: { a: "10.32.0.9" } }],
    Options: {},
  },
  Options: { "com.docker.network.bridge.name": "weave-n1" },
  Containers: {
    c1: {
      Name: "db",
      EndpointID: "e1",
      MacAddress: "02:42:0a:20:00:02",
      IPv4Address: "10.32.0.2/24",
      IPv6Address: "",
    },
  },
};

const CONTAINER = {
  Id: "c1",
  Name: "/db",
  State: { Status: "running", Running: true, Pid: 4242 },
  Config: { Hostname: "db", Domainname: "example.org", Image: "alpine" },
  NetworkSettings: {
    Networks: {
      mynet: {
        NetworkID: "n1",
        EndpointID: "e1",
        IPAddress: "10.32.0.2",
        GlobalIPv6Address: "",
        MacAddress: "02:42:0a:20:00:02",
        Aliases: ["db", "c1"],
      },
    },
  },
};

void describe("DockerClient requests", () => {
  void it("sends each call to the versioned path on the socket, with the default 10 s timeout", async () => {
    const http = new ScriptedHttp()
      .expect(at("GET", "/_ping"), { text: "OK" })
      .expect(at("GET", "/v1.41/version"), { json: { Version: "24.0.7", ApiVersion: "1.43", Os: "linux" } })
      .expect(at("GET", "/v1.41/containers/json"), { json: [] })
      .expect(at("DELETE", "/v1.41/networks/my%20net"), { status: 204 });
    const docker = client(http);
    await docker.ping();
    assert.deepEqual(await docker.version(), { Version: "24.0.7", ApiVersion: "1.43" });
    assert.deepEqual(await docker.listContainers(), []);
    await docker.removeNetwork("my net");
    http.assertDone();
    assert.deepEqual(
      http.sent.map((r) => [r.timeoutMs, r.body, r.headers]),
      Array.from({ length: 4 }, () => [10_000, undefined, undefined]),
    );
  });

  void it("puts the filters of listNetworks in the query, JSON-encoded", async () => {
    const filters = JSON.stringify({ driver: ["weave"], name: ["a b"] });
    const http = new ScriptedHttp().expect(
      at("GET", `/v1.41/networks?filters=${encodeURIComponent(filters)}`),
      { json: [NETWORK] },
    );
    const list = await client(http).listNetworks({ driver: ["weave"], name: ["a b"] });
    http.assertDone();
    assert.deepEqual(
      list.map((n) => n.Name),
      ["mynet"],
    );
  });

  void it("posts createNetwork's body as JSON and returns the new ID", async () => {
    const body = { Name: "mynet", Driver: "weave", CheckDuplicate: true, IPAM: { Driver: "weave" } };
    const http = new ScriptedHttp().expect(
      at("POST", "/v1.41/networks/create"),
      { status: 201, json: { Id: "abc", Warning: "" } },
      { json: body },
    );
    assert.deepEqual(await client(http, 50).createNetwork(body), { Id: "abc" });
    http.assertDone();
    assert.deepEqual(http.sent[0]?.headers, { "Content-Type": "application/json" });
    assert.equal(http.sent[0]?.timeoutMs, 50);
  });
});

void describe("DockerClient decoding", () => {
  void it("decodes a network into the typed shape, dropping fields weave does not read", async () => {
    const http = new ScriptedHttp().expect(at("GET", "/v1.41/networks/n1"), { json: NETWORK });
    const n = await client(http).inspectNetwork("n1");
    assert.deepEqual(n, {
      Id: "n1",
      Name: "mynet",
      Driver: "weave",
      Internal: false,
      IPAM: {
        Driver: "weave",
        Config: [{ Subnet: "10.32.0.0/24", Gateway: "10.32.0.1", AuxiliaryAddresses: { a: "10.32.0.9" } }],
      },
      Options: { "com.docker.network.bridge.name": "weave-n1" },
      Containers: NETWORK.Containers,
    });
  });

  void it("reads Docker's nulls and left-out fields as the empty values of the types", async () => {
    const bare = { Id: "n2", Name: "bare", Driver: "bridge", IPAM: { Driver: "default", Config: null } };
    const http = new ScriptedHttp()
      .expect(at("GET", "/v1.41/networks/n2"), { json: { ...bare, Options: null, Containers: null } })
      .expect(at("GET", "/v1.41/networks"), { json: [{ ...bare, IPAM: { Config: [{}] } }] })
      .expect(at("GET", "/v1.41/containers/c2/json"), {
        json: { Id: "c2", State: { Running: false }, NetworkSettings: { Networks: null } },
      })
      .expect(at("GET", "/v1.41/containers/json"), { json: [{ Id: "c3", Names: null }] });
    const docker = client(http);
    assert.deepEqual(await docker.inspectNetwork("n2"), {
      ...bare,
      Internal: false,
      Options: null,
      Containers: null,
    });
    assert.deepEqual(await docker.listNetworks(), [
      { ...bare, Internal: false, IPAM: { Driver: "", Config: [{}] }, Options: null },
    ]);
    assert.deepEqual(await docker.inspectContainer("c2"), {
      Id: "c2",
      Name: "",
      State: { Running: false },
      Config: { Hostname: "", Domainname: "" },
      NetworkSettings: { Networks: null },
    });
    assert.deepEqual(await docker.listContainers(), [{ Id: "c3", Names: [], State: "" }]);
  });

  void it("decodes a container with its networks and aliases", async () => {
    const http = new ScriptedHttp().expect(at("GET", "/v1.41/containers/db/json"), { json: CONTAINER });
    const c = await client(http).inspectContainer("db");
    assert.deepEqual(c, {
      Id: "c1",
      Name: "/db",
      State: { Running: true, Pid: 4242 },
      Config: { Hostname: "db", Domainname: "example.org" },
      NetworkSettings: CONTAINER.NetworkSettings,
    });
  });

  void it("rejects an answer of the wrong shape with WEAVE_DOCKER naming the call and the field", async () => {
    const http = new ScriptedHttp()
      .expect(at("GET", "/v1.41/networks"), { json: [NETWORK, { ...NETWORK, Name: 7 }] })
      .expect(at("GET", "/v1.41/networks/n1"), { json: { ...NETWORK, Containers: { c1: { Name: "x" } } } })
      .expect(at("GET", "/v1.41/containers/c1/json"), {
        json: { ...CONTAINER, NetworkSettings: { Networks: { mynet: { Aliases: "db" } } } },
      })
      .expect(at("GET", "/v1.41/version"), { json: ["24.0.7"] })
      .expect(at("POST", "/v1.41/networks/create"), { json: {} })
      .expect(at("GET", "/v1.41/containers/json"), { text: "" });
    const docker = client(http);
    await rejectsWith(
      docker.listNetworks(),
      "WEAVE_DOCKER",
      /^Docker API GET \/networks: \[1\]\.Name is a number, expected a string$/,
    );
    await rejectsWith(
      docker.inspectNetwork("n1"),
      "WEAVE_DOCKER",
      /Containers\["c1"\]\.EndpointID is missing, expected a string$/,
    );
    await rejectsWith(
      docker.inspectContainer("c1"),
      "WEAVE_DOCKER",
      /NetworkSettings\.Networks\["mynet"\]\.Aliases is a string, expected an array$/,
    );
    await rejectsWith(
      docker.version(),
      "WEAVE_DOCKER",
      /GET \/version: the value is an array, expected an object/,
    );
    await rejectsWith(
      docker.createNetwork({ Name: "x", Driver: "weave" }),
      "WEAVE_DOCKER",
      /POST \/networks\/create: Id is missing/,
    );
    await rejectsWith(docker.listContainers(), "WEAVE_DOCKER", /GET \/containers\/json: invalid JSON$/);
    http.assertDone();
  });
});

void describe("DockerClient errors", () => {
  void it("maps 404 to WEAVE_NOT_FOUND and other errors to WEAVE_DOCKER, quoting Docker's message", async () => {
    const http = new ScriptedHttp()
      .expect(at("GET", "/v1.41/networks/gone"), { status: 404, json: { message: "network gone not found" } })
      .expect(at("DELETE", "/v1.41/networks/busy"), {
        status: 403,
        json: { message: "error while removing network: network busy has active endpoints" },
      })
      .expect(at("GET", "/v1.41/version"), { status: 500, text: "  upstream broke\n" })
      .expect(at("GET", "/v1.41/containers/json"), { status: 502, json: null });
    const docker = client(http);
    await rejectsWith(
      docker.inspectNetwork("gone"),
      "WEAVE_NOT_FOUND",
      /^Docker API GET \/networks\/gone failed \(404\): network gone not found$/,
    );
    await rejectsWith(
      docker.removeNetwork("busy"),
      "WEAVE_DOCKER",
      /^Docker API DELETE \/networks\/busy failed \(403\): error while removing network: network busy has active endpoints$/,
    );
    await rejectsWith(
      docker.version(),
      "WEAVE_DOCKER",
      /^Docker API GET \/version failed \(500\): upstream broke$/,
    );
    await rejectsWith(docker.listContainers(), "WEAVE_DOCKER", /failed \(502\): null$/);
    http.assertDone();
  });

  void it("reports an unreachable or silent Docker as WEAVE_DOCKER naming the socket and the call", async () => {
    const refused = Object.assign(new Error(`connect ENOENT ${SOCK}`), { code: "ENOENT" });
    const http = new ScriptedHttp()
      .expect(at("GET", "/_ping"), { error: refused })
      .expect(at("GET", "/v1.41/networks/n1"), { timeout: true })
      .expect(at("GET", "/v1.41/containers/json"), { hang: true });
    const docker = client(http, 20);
    await rejectsWith(
      docker.ping(),
      "WEAVE_DOCKER",
      new RegExp(`^Cannot reach Docker at "${SOCK}" \\(GET /_ping\\): connect ENOENT ${SOCK}$`),
    );
    await rejectsWith(
      docker.inspectNetwork("n1"),
      "WEAVE_DOCKER",
      /\(GET \/networks\/n1\): timed out after 20 ms$/,
    );
    await rejectsWith(
      docker.listContainers(),
      "WEAVE_DOCKER",
      /\(GET \/containers\/json\): timed out after 20 ms$/,
    );
    http.assertDone();
  });
});
