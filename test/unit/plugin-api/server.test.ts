import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Json, JsonObject } from "../../../src/core/index.js";
import { isWeaveError } from "../../../src/core/index.js";
import type { FakeDataplane } from "../../../src/dataplane/index.js";
import type { PluginServer } from "../../../src/plugin-api/index.js";
import { MAX_BODY_BYTES } from "../../../src/plugin-api/index.js";
import type { LocalState } from "../../../src/store/index.js";
import { composeWithFakes } from "../../helpers/compose-fakes.js";

const dir = mkdtempSync(join(tmpdir(), "weave-plugin-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const socketPath = () => join(dir, `p${++seq}`, "weave.sock");

interface Stack {
  server: PluginServer;
  state: LocalState;
  dp: FakeDataplane;
  path: string;
}

/** The daemon's real graph over fakes (composeDaemon), served on `path`. */
function makeStack(path = socketPath()): Stack {
  const { daemon, adapters } = composeWithFakes({ socket: path, dir });
  return { server: daemon.plugin, state: adapters.state, dp: adapters.dataplane, path };
}

interface Reply {
  status: number;
  text: string;
  json: JsonObject;
}

/** One HTTP call the way dockerd makes it: POST, no Content-Type, Accept set, fresh connection. */
function call(path: string, socket: string, body?: string | Buffer, method = "POST"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        agent: false,
        headers: { Accept: "application/vnd.docker.plugins.v1.2+json", Host: "plugin.moby.localhost" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: JsonObject = {};
          try {
            json = JSON.parse(text) as JsonObject;
          } catch {
            // left as {}; tests check `text` too
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
        res.on("error", reject);
      },
    );
    // The server may answer (413) and stop reading before the whole body is written.
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE" && err.code !== "ECONNRESET") reject(err);
    });
    req.end(body);
  });
}

/** A string field of a reply (asserts that it is one). */
function str(v: Json | undefined): string {
  assert.equal(typeof v, "string", `expected a string, got ${JSON.stringify(v)}`);
  return v as string;
}

/** A JSON body as Go's json.Encoder writes it (trailing newline). */
const enc = (v: unknown): string => JSON.stringify(v) + "\n";

const NET = "4f9d0c6e1b2a".padEnd(64, "a");
const EP = "7c3e9a1f5b6d".padEnd(64, "b");

void describe("PluginServer + routes", () => {
  let s: Stack;
  const post = (path: string, body?: unknown) =>
    call(path, s.path, body === undefined ? undefined : typeof body === "string" ? body : enc(body));

  before(async () => {
    s = makeStack();
    await s.server.start();
  });
  after(async () => {
    await s.server.close();
    s.state.close();
  });

  void it("Plugin.Activate with an empty body implements NetworkDriver and IpamDriver", async () => {
    const r = await post("/Plugin.Activate");
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"Implements":["NetworkDriver","IpamDriver"]}');
  });

  void it("NetworkDriver.GetCapabilities with an empty body gives Scope local", async () => {
    const r = await post("/NetworkDriver.GetCapabilities");
    assert.equal(r.status, 200);
    assert.equal(r.json["Scope"], "local");
    assert.equal(r.json["ConnectivityScope"], "local");
  });

  void it("IpamDriver.GetCapabilities asks for request replay; default address spaces", async () => {
    const caps = await post("/IpamDriver.GetCapabilities");
    assert.equal(caps.status, 200);
    assert.deepEqual(caps.json, { RequiresMACAddress: false, RequiresRequestReplay: true });
    const spaces = await post("/IpamDriver.GetDefaultAddressSpaces");
    assert.deepEqual(spaces.json, {
      LocalDefaultAddressSpace: "LocalDefault",
      GlobalDefaultAddressSpace: "GlobalDefault",
    });
  });

  void it("accepts a JSON null body like an empty one", async () => {
    const r = await post("/NetworkDriver.GetCapabilities", "null");
    assert.equal(r.status, 200);
    assert.equal(r.json["Scope"], "local");
  });

  void it("every 200 has a JSON body, {} for calls with nothing to return", async () => {
    for (const path of [
      "/NetworkDriver.DeleteNetwork",
      "/NetworkDriver.DeleteEndpoint",
      "/NetworkDriver.Leave",
    ]) {
      const r = await post(path, { NetworkID: "c".repeat(64), EndpointID: "d".repeat(64) });
      assert.equal(r.status, 200, path);
      assert.equal(r.text, "{}", path);
    }
    const rp = await post("/IpamDriver.ReleasePool", { PoolID: "LocalDefault/10.99.0.0/24" });
    assert.equal(rp.text, "{}");
    const ra = await post("/IpamDriver.ReleaseAddress", {
      PoolID: "LocalDefault/10.99.0.0/24",
      Address: "10.99.0.5",
    });
    assert.equal(ra.text, "{}");
    const info = await post("/NetworkDriver.EndpointOperInfo", {
      NetworkID: "c".repeat(64),
      EndpointID: "d".repeat(64),
    });
    assert.equal(info.text, '{"Value":{}}');
  });

  void it("a NetworkDriver error is 200 with {Err}", async () => {
    const r = await post("/NetworkDriver.CreateEndpoint", {
      NetworkID: "e".repeat(64),
      EndpointID: EP,
      Interface: { Address: "10.32.0.2/24", AddressIPv6: "", MacAddress: "" },
      Options: {},
    });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json), ["Err"]);
    assert.match(str(r.json["Err"]), /not a weave network/);
  });

  void it("an IPAM error is 200 with {Error}", async () => {
    const r = await post("/IpamDriver.RequestAddress", {
      PoolID: "LocalDefault/10.99.0.0/24",
      Address: "",
      Options: null,
    });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json), ["Error"]);
    assert.match(str(r.json["Error"]), /Unknown address pool "LocalDefault\/10\.99\.0\.0\/24"/);
  });

  void it("malformed JSON is 400 with {Err}", async () => {
    for (const body of ["{", "not json", '{"NetworkID": }']) {
      const r = await post("/NetworkDriver.CreateNetwork", body);
      assert.equal(r.status, 400, body);
      assert.match(str(r.json["Err"]), /malformed JSON/);
    }
    for (const body of ["[]", '"text"', "42"]) {
      const r = await post("/IpamDriver.RequestPool", body);
      assert.equal(r.status, 400, body);
      assert.match(str(r.json["Err"]), /JSON object/);
    }
  });

  void it("wrong field types are 400 naming the field, and leave the state untouched", async () => {
    const networks = s.state.listNetworks();
    const pools = s.state.listPools();
    const cases: [string, unknown, RegExp][] = [
      ["/NetworkDriver.CreateNetwork", { NetworkID: 42 }, /"NetworkID" must be a string/],
      ["/NetworkDriver.CreateNetwork", { NetworkID: "" }, /"NetworkID"/],
      ["/NetworkDriver.CreateNetwork", { NetworkID: "../etc" }, /"NetworkID" is not a valid ID/],
      ["/NetworkDriver.CreateNetwork", { NetworkID: NET, IPv4Data: "x" }, /"IPv4Data" must be an array/],
      ["/NetworkDriver.CreateNetwork", { NetworkID: NET, IPv4Data: [7] }, /IPv4Data\[0\] must be an object/],
      ["/NetworkDriver.CreateNetwork", { NetworkID: NET, IPv4Data: [{}] }, /"Pool" is required/],
      ["/NetworkDriver.CreateNetwork", { NetworkID: NET, Options: [] }, /"Options" must be an object/],
      [
        "/NetworkDriver.CreateNetwork",
        { NetworkID: NET, IPv4Data: [{ Pool: "10.32.0.0/24", AuxAddresses: { a: 1 } }] },
        /"AuxAddresses\.a" must be a string/,
      ],
      [
        "/NetworkDriver.CreateNetwork",
        { NetworkID: NET, IPv4Data: [{ Pool: "10.32.0.0/33" }] },
        /10\.32\.0\.0\/33/,
      ],
      ["/NetworkDriver.CreateEndpoint", { NetworkID: NET, EndpointID: EP, Interface: 5 }, /"Interface"/],
      ["/NetworkDriver.Join", { NetworkID: NET, EndpointID: EP, SandboxKey: 1 }, /"SandboxKey"/],
      ["/IpamDriver.RequestPool", { Pool: "", V6: "yes" }, /"V6" must be a boolean/],
      ["/IpamDriver.RequestPool", { Pool: 10 }, /"Pool" must be a string/],
      [
        "/IpamDriver.RequestPool",
        { Pool: "10.1.0.0/16", Options: { a: 1 } },
        /"Options\.a" must be a string/,
      ],
      ["/IpamDriver.RequestPool", { Pool: "10.1.0.1/16" }, /host bits/],
      ["/IpamDriver.RequestAddress", { Address: "10.0.0.1" }, /"PoolID" is required/],
      ["/IpamDriver.ReleasePool", { PoolID: "" }, /"PoolID" must not be empty/],
    ];
    for (const [path, body, message] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.text}`);
      assert.match(str(r.json["Err"]), message, `${path} ${JSON.stringify(body)}`);
    }
    assert.deepEqual(s.state.listNetworks(), networks);
    assert.deepEqual(s.state.listPools(), pools);
  });

  void it("field names are matched case-insensitively, like Go's encoding/json", async () => {
    const r = await post("/IpamDriver.RequestPool", {
      addressspace: "LocalDefault",
      pool: "172.28.0.0/16",
      v6: false,
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json["Pool"], "172.28.0.0/16");
    const rel = await post("/IpamDriver.ReleasePool", { poolid: r.json["PoolID"] ?? "" });
    assert.equal(rel.text, "{}");
    assert.equal(s.state.getPool(str(r.json["PoolID"])), undefined);
  });

  void it("an oversized body is 413 and the server still answers afterwards", async () => {
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    const r = await call("/NetworkDriver.CreateNetwork", s.path, big);
    assert.equal(r.status, 413);
    assert.match(str(r.json["Err"]), /larger than/);
    const ok = await post("/NetworkDriver.GetCapabilities");
    assert.equal(ok.status, 200);
    assert.equal(ok.json["Scope"], "local");
  });

  void it("a body of exactly the limit is read", async () => {
    const padded = Buffer.alloc(MAX_BODY_BYTES, 0x20);
    Buffer.from("{}").copy(padded);
    const r = await call("/NetworkDriver.GetCapabilities", s.path, padded);
    assert.equal(r.status, 200);
  });

  void it("unknown paths are 404 with a JSON body", async () => {
    for (const path of ["/NetworkDriver.DiscoverNew", "/NetworkDriver.AllocateNetwork", "/Nope", "/"]) {
      const r = await post(path, { NetworkID: NET, EndpointID: EP });
      assert.equal(r.status, 404, path);
      assert.ok(typeof r.json["Err"] === "string", path);
    }
  });

  void it("a non-POST method is 405", async () => {
    const r = await call("/Plugin.Activate", s.path, undefined, "GET");
    assert.equal(r.status, 405);
    assert.ok(typeof r.json["Err"] === "string");
  });

  void it("the socket file has mode 0660 and the requested group", () => {
    const st = statSync(s.path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, process.getgid?.());
  });

  void it("serves the full create/run/stop/rm sequence as Docker sends it", async () => {
    s.dp.setHostRoutes(["0.0.0.0/0", "10.32.0.0/24"]);
    try {
      // docker network create -d weave --ipam-driver weave n1
      assert.equal((await post("/Plugin.Activate")).status, 200);
      assert.equal((await post("/NetworkDriver.GetCapabilities")).json["Scope"], "local");
      assert.equal((await post("/IpamDriver.GetCapabilities")).json["RequiresRequestReplay"], true);
      const gwCheck = await post("/NetworkDriver.GwAllocCheck", {
        Options: { "com.docker.network.enable_ipv4": true, "com.docker.network.enable_ipv6": false },
      });
      assert.deepEqual(gwCheck.json, { SkipIPv4: false, SkipIPv6: false });
      await post("/IpamDriver.GetDefaultAddressSpaces");
      await post("/IpamDriver.GetDefaultAddressSpaces");
      const pool = await post("/IpamDriver.RequestPool", {
        AddressSpace: "LocalDefault",
        Pool: "",
        SubPool: "",
        Options: {},
        V6: false,
      });
      assert.equal(pool.status, 200, pool.text);
      // 10.32.0.0/24 is a host route here.
      assert.equal(pool.json["Pool"], "10.32.1.0/24");
      const poolId = str(pool.json["PoolID"]);
      const gw = await post("/IpamDriver.RequestAddress", {
        PoolID: poolId,
        Address: "",
        Options: { RequestAddressType: "com.docker.network.gateway" },
      });
      assert.deepEqual(gw.json, { Address: "10.32.1.1/24", Data: {} });
      const created = await post("/NetworkDriver.CreateNetwork", {
        NetworkID: NET,
        Options: {
          "com.docker.network.enable_ipv4": true,
          "com.docker.network.enable_ipv6": false,
          "com.docker.network.generic": {},
        },
        IPv4Data: [{ AddressSpace: "LocalDefault", Pool: "10.32.1.0/24", Gateway: "10.32.1.1/24" }],
        IPv6Data: [],
      });
      assert.equal(created.status, 200);
      assert.equal(created.text, "{}");
      assert.ok(s.dp.links.has("weave-4f9d0c6e1"));

      // docker run --net n1
      const addr = await post("/IpamDriver.RequestAddress", { PoolID: poolId, Address: "", Options: null });
      assert.deepEqual(addr.json, { Address: "10.32.1.2/24", Data: {} });
      const ep = await post("/NetworkDriver.CreateEndpoint", {
        NetworkID: NET,
        EndpointID: EP,
        Interface: { Address: "10.32.1.2/24", AddressIPv6: "", MacAddress: "" },
        Options: {
          "com.docker.network.endpoint.exposedports": [],
          "com.docker.network.portmap": [],
          "com.docker.network.endpoint.macaddress": "AkIKAAAC",
        },
      });
      assert.equal(ep.status, 200);
      const iface = ep.json["Interface"] as JsonObject;
      assert.deepEqual(Object.keys(iface), ["MacAddress"]);
      assert.match(str(iface["MacAddress"]), /^02(:[0-9a-f]{2}){5}$/);
      const join = await post("/NetworkDriver.Join", {
        NetworkID: NET,
        EndpointID: EP,
        SandboxKey: "/var/run/docker/netns/0123456789ab",
        Options: { "com.docker.network.portmap": [] },
      });
      assert.equal(join.status, 200);
      assert.deepEqual(join.json, {
        InterfaceName: { SrcName: "vwp7c3e9a1f5b", DstPrefix: "ethwe" },
        Gateway: "10.32.1.1",
        DisableGatewayService: false,
      });
      assert.equal(
        (
          await post("/NetworkDriver.ProgramExternalConnectivity", {
            NetworkID: NET,
            EndpointID: EP,
            Options: {},
          })
        ).text,
        "{}",
      );
      const info = await post("/NetworkDriver.EndpointOperInfo", { NetworkID: NET, EndpointID: EP });
      assert.equal(info.status, 200);
      assert.ok(typeof info.json["Value"] === "object");

      // docker stop
      assert.equal(
        (await post("/NetworkDriver.RevokeExternalConnectivity", { NetworkID: NET, EndpointID: EP })).text,
        "{}",
      );
      assert.equal((await post("/NetworkDriver.Leave", { NetworkID: NET, EndpointID: EP })).text, "{}");
      assert.equal(
        (await post("/NetworkDriver.DeleteEndpoint", { NetworkID: NET, EndpointID: EP })).text,
        "{}",
      );
      assert.equal(
        (await post("/IpamDriver.ReleaseAddress", { PoolID: poolId, Address: "10.32.1.2" })).text,
        "{}",
      );
      assert.equal(s.dp.links.has("vwe7c3e9a1f5b"), false);

      // docker network rm n1: IPAM is released before DeleteNetwork
      assert.equal(
        (await post("/IpamDriver.ReleaseAddress", { PoolID: poolId, Address: "10.32.1.1" })).text,
        "{}",
      );
      assert.equal((await post("/IpamDriver.ReleasePool", { PoolID: poolId })).text, "{}");
      assert.equal((await post("/NetworkDriver.DeleteNetwork", { NetworkID: NET })).text, "{}");
      assert.deepEqual(s.state.listNetworks(), []);
      assert.deepEqual(s.state.listEndpoints(), []);
      assert.deepEqual(s.state.listPools(), []);
      assert.deepEqual(s.state.listAddresses(), []);
      assert.equal(s.dp.links.size, 0);
    } finally {
      s.dp.setHostRoutes([]);
    }
  });

  void it("an IPv4-less network (v28 --ipv4=false) works end to end", async () => {
    const created = await post("/NetworkDriver.CreateNetwork", {
      NetworkID: NET,
      Options: { "com.docker.network.enable_ipv4": false, "com.docker.network.enable_ipv6": false },
      IPv4Data: [],
      IPv6Data: null,
    });
    assert.equal(created.text, "{}");
    const ep = await post("/NetworkDriver.CreateEndpoint", {
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: "", AddressIPv6: "", MacAddress: "02:42:ac:11:00:09" },
      Options: null,
    });
    assert.equal(ep.text, '{"Interface":null}');
    const join = await post("/NetworkDriver.Join", {
      NetworkID: NET,
      EndpointID: EP,
      SandboxKey: "k",
      Options: null,
    });
    assert.equal(join.json["Gateway"], undefined);
    assert.equal(join.json["DisableGatewayService"], true);
    await post("/NetworkDriver.Leave", { NetworkID: NET, EndpointID: EP });
    await post("/NetworkDriver.DeleteEndpoint", { NetworkID: NET, EndpointID: EP });
    await post("/NetworkDriver.DeleteNetwork", { NetworkID: NET });
    assert.deepEqual(s.state.listNetworks(), []);
  });

  void it("handles concurrent calls", async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => post("/IpamDriver.RequestPool", { Pool: "", V6: false })),
    );
    const pools = replies.map((r) => str(r.json["Pool"]));
    assert.equal(new Set(pools).size, 20, "no pool handed out twice");
    for (const r of replies) await post("/IpamDriver.ReleasePool", { PoolID: r.json["PoolID"] ?? "" });
    assert.deepEqual(s.state.listPools(), []);
  });
});

void describe("PluginServer: socket lifecycle", () => {
  void it("replaces a stale socket left by a dead process", async () => {
    const path = socketPath();
    const script = `const s=require("node:net").createServer();require("node:fs").mkdirSync(require("node:path").dirname(${JSON.stringify(
      path,
    )}),{recursive:true});s.listen(${JSON.stringify(path)},()=>process.kill(process.pid,"SIGKILL"));`;
    spawnSync(process.execPath, ["-e", script], { timeout: 10_000 });
    assert.ok(lstatSync(path).isSocket(), "stale socket left behind");
    const st = makeStack(path);
    await st.server.start();
    try {
      const r = await call("/Plugin.Activate", path);
      assert.equal(r.status, 200);
    } finally {
      await st.server.close();
      st.state.close();
    }
  });

  void it("refuses to start with WEAVE_CONFLICT when another server listens on the path", async () => {
    const path = socketPath();
    const first = makeStack(path);
    await first.server.start();
    const other = makeStack(path);
    try {
      await assert.rejects(other.server.start(), (err: unknown) => isWeaveError(err, "WEAVE_CONFLICT"));
      // The live server is untouched.
      assert.equal((await call("/Plugin.Activate", path)).status, 200);
    } finally {
      await first.server.close();
      first.state.close();
      other.state.close();
    }
  });

  void it("refuses to start when a foreign (non-weave) listener owns the path", async () => {
    const path = socketPath();
    const foreign = createServer((c) => c.end());
    mkdirSync(join(path, ".."), { recursive: true });
    await new Promise<void>((resolve) => foreign.listen(path, resolve));
    const st = makeStack(path);
    try {
      await assert.rejects(st.server.start(), (err: unknown) => isWeaveError(err, "WEAVE_CONFLICT"));
    } finally {
      await new Promise<void>((resolve) => foreign.close(() => resolve()));
      st.state.close();
    }
  });

  void it("refuses to replace a regular file at the socket path", async () => {
    const path = socketPath();
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, "not a socket");
    const st = makeStack(path);
    try {
      await assert.rejects(st.server.start(), (err: unknown) => isWeaveError(err, "WEAVE_CONFIG"));
      assert.ok(existsSync(path), "the file is left alone");
    } finally {
      st.state.close();
    }
  });

  void it("starts as a non-root user with its own group; a failed chown leaves nothing listening", () => {
    // As root, run the check as "nobody" in a child process; otherwise as ourselves.
    const work = join(dir, `nonroot-${++seq}`);
    mkdirSync(work, { recursive: true });
    chmodSync(dir, 0o755);
    chmodSync(work, 0o777);
    const api = new URL("../../../src/plugin-api/index.ts", import.meta.url).href;
    const core = new URL("../../../src/core/index.ts", import.meta.url).href;
    const script = `
      const { PluginServer } = await import(${JSON.stringify(api)});
      const { silentLogger } = await import(${JSON.stringify(core)});
      const { existsSync } = await import("node:fs");
      const make = (path, gid) => new PluginServer({ socketPath: path, socketMode: 0o660, socketGid: gid,
        routes: new Map(), logger: silentLogger });
      const own = make(${JSON.stringify(join(work, "own.sock"))}, process.getgid());
      await own.start();
      await own.close();
      console.log("own-group ok");
      const path = ${JSON.stringify(join(work, "root.sock"))};
      try {
        await make(path, 0).start();
        console.log("root-group started");
      } catch (err) {
        console.log("root-group " + err.code + " " + (existsSync(path) ? "socket-left" : "socket-removed"));
      }
    `;
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 15_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    assert.equal(
      r.signal,
      null,
      `child hung (a failed start left a server listening?): ${r.stdout}${r.stderr}`,
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "own-group ok", r.stdout + r.stderr);
    if (process.getgid?.() !== 0 || asRoot) {
      assert.equal(lines[1], "root-group WEAVE_PERMISSION socket-removed");
    }
  });

  void it("removes the socket at close", async () => {
    const path = socketPath();
    const st = makeStack(path);
    await st.server.start();
    assert.ok(existsSync(path));
    await st.server.close();
    st.state.close();
    assert.equal(existsSync(path), false);
  });

  void it("close does not wait forever for a hung connection", async () => {
    const path = socketPath();
    const st = makeStack(path);
    await st.server.start();
    // Open a connection and send half a request.
    const sock = connect(path);
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    sock.write("POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{");
    sock.on("error", () => undefined);
    const started = Date.now();
    await st.server.close(200);
    assert.ok(Date.now() - started < 3_000);
    sock.destroy();
    st.state.close();
    assert.equal(existsSync(path), false);
  });
});
