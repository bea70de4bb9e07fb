/**
 * Connection handling of the plugin socket: keep-alive that never closes a connection under
 * Docker, a deadline for receiving each request, and a bound on connections that sheds load with
 * `Connection: close` and evicts only waiting connections. Real unix sockets, short limits.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { silentLogger } from "../../../src/core/index.js";
import { type HttpLimits, PluginServer, type Route } from "../../../src/plugin-api/index.js";
import { dockerRequest, RawConnection, sleep } from "./raw-http.js";

const dir = mkdtempSync(join(tmpdir(), "weave-conn-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

const SHORT: HttpLimits = {
  requestDeadlineMs: 300,
  checkIntervalMs: 50,
  keepAliveConnections: 100,
  maxConnections: 200,
  evictAfterMs: 200,
};

/** A plugin server with two routes: an echo of NetworkID and a call that takes `slowMs`. */
async function startServer(limits: HttpLimits, slowMs = 0): Promise<{ server: PluginServer; path: string }> {
  const path = join(dir, `s${++seq}.sock`);
  const routes = new Map<string, Route>([
    [
      "/NetworkDriver.Join",
      { iface: "NetworkDriver", handle: async (r) => ({ Echo: r.string("NetworkID") }) },
    ],
    ["/NetworkDriver.Leave", { iface: "NetworkDriver", handle: async () => sleep(slowMs).then(() => ({})) }],
  ]);
  const server = new PluginServer({
    socketPath: path,
    socketMode: 0o600,
    socketGid: process.getgid?.() ?? 0,
    routes,
    logger: silentLogger,
    limits,
  });
  await server.start();
  return { server, path };
}

const join1 = dockerRequest("/NetworkDriver.Join", '{"NetworkID":"n1","EndpointID":"e1"}\n');

void describe("plugin socket keep-alive", () => {
  void it("answers a call on a connection left idle longer than Node's default keep-alive timeout", async () => {
    // Node's default keepAliveTimeout (5 s; Node 20.20 closes 1 s later) closed such a connection
    // just as Docker reused it.
    const nodeDefault = createServer().keepAliveTimeout + 1_000;
    const { server, path } = await startServer(SHORT);
    const c = await RawConnection.open(path);
    try {
      const first = await c.call(join1);
      assert.equal(first.status, 200);
      assert.notEqual(first.headers.get("connection"), "close");
      await sleep(nodeDefault + 300); // also many times every deadline and check interval above
      assert.ok(c.open, "the idle connection is still open");
      const second = await c.call(join1);
      assert.equal(second.status, 200);
      assert.equal((JSON.parse(second.body) as { Echo: string }).Echo, "n1", "the body arrived whole");
    } finally {
      c.destroy();
      await server.close(100);
    }
  });

  void it("never cuts a call whose answer takes longer than the request deadline", async () => {
    const { server, path } = await startServer(SHORT, 1_000);
    const c = await RawConnection.open(path);
    try {
      const res = await c.call(dockerRequest("/NetworkDriver.Leave"));
      assert.equal(res.status, 200);
      assert.ok(c.open);
    } finally {
      c.destroy();
      await server.close(100);
    }
  });
});

void describe("plugin socket request deadline", () => {
  void it("keeps a fresh connection that sends nothing (Go parks connections it dialed)", async () => {
    const { server, path } = await startServer(SHORT);
    const c = await RawConnection.open(path);
    try {
      await sleep(SHORT.requestDeadlineMs * 3);
      assert.ok(c.open, "not closed by the deadline");
      const res = await c.call(join1);
      assert.equal(res.status, 200);
      assert.equal((JSON.parse(res.body) as { Echo: string }).Echo, "n1", "the body arrived whole");
    } finally {
      c.destroy();
      await server.close(100);
    }
  });

  const stalls: [string, (c: RawConnection) => void][] = [
    ["stops in the headers", (c) => c.write("POST /NetworkDriver.Join HTTP/1.1\r\nHost: x")],
    [
      "stops in the body",
      (c) => c.write('POST /NetworkDriver.Join HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{"Net'),
    ],
  ];
  for (const [what, stall] of stalls) {
    void it(`closes a connection that ${what}, and still serves others`, async () => {
      const { server, path } = await startServer(SHORT);
      try {
        const c = await RawConnection.open(path);
        stall(c);
        const ms = await c.closed;
        assert.ok(ms >= 250 && ms < 2_000, `closed after ${ms} ms`);
        const d = await RawConnection.open(path);
        assert.equal((await d.call(join1)).status, 200);
        d.destroy();
      } finally {
        await server.close(100);
      }
    });
  }

  void it("counts from a request's first byte, not from each byte (a trickle is cut)", async () => {
    const { server, path } = await startServer(SHORT);
    const c = await RawConnection.open(path);
    assert.equal((await c.call(join1)).status, 200);
    await sleep(500); // idle: no deadline runs
    const bytes = join1;
    const sentAt = Date.now();
    let i = 0;
    const timer = setInterval(() => {
      if (i < bytes.length && c.open) c.write(bytes[i++] ?? "");
    }, 20);
    await c.closed;
    clearInterval(timer);
    const ms = Date.now() - sentAt;
    assert.ok(ms >= 250 && ms < 2_000, `closed ${ms} ms after the first byte`);
    assert.ok(i < bytes.length, "the request was not complete");
    await server.close(100);
  });
});

void describe("plugin socket connection limit", () => {
  void it("over the soft limit, answers with Connection: close and closes after the answer", async () => {
    const { server, path } = await startServer({ ...SHORT, keepAliveConnections: 2 });
    const a = await RawConnection.open(path);
    const b = await RawConnection.open(path);
    assert.notEqual((await a.call(join1)).headers.get("connection"), "close", "under the limit");
    const c = await RawConnection.open(path);
    const res = await c.call(join1);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("connection"), "close");
    await c.closed;
    assert.ok(a.open && b.open, "nothing else is closed");
    assert.equal(server.stats().closedByResponse, 1);
    a.destroy();
    b.destroy();
    await server.close(100);
  });

  void it("past the hard limit evicts a stuck fresh connection before an idle kept-alive one", async () => {
    const limits = { ...SHORT, requestDeadlineMs: 10_000, keepAliveConnections: 1, maxConnections: 3 };
    const { server, path } = await startServer(limits);
    const docker = await RawConnection.open(path);
    assert.equal((await docker.call(join1)).status, 200);
    const stuck = [await RawConnection.open(path), await RawConnection.open(path)];
    stuck[0]?.write("POST /NetworkDriver.Join HTTP/1.1\r\n");
    await sleep(limits.evictAfterMs + 100);
    const fresh = await RawConnection.open(path); // 4 > 3: one stuck connection goes
    await stuck[0]?.closed;
    assert.equal(stuck[1]?.open, true, "one eviction per connection over the limit");
    assert.ok(docker.open, "the kept-alive connection stays");
    assert.equal((await fresh.call(join1)).status, 200, "the new connection is served");
    await sleep(limits.evictAfterMs + 100);
    const more = [await RawConnection.open(path), await RawConnection.open(path)];
    await stuck[1]?.closed; // the other stuck one goes first
    assert.ok(docker.open);
    more.push(await RawConnection.open(path));
    await docker.closed; // nothing fresh and old enough is left: the longest-idle goes
    assert.equal(server.stats().evicted, 3);
    for (const c of [fresh, ...more]) c.destroy();
    await server.close(100);
  });

  void it("past the hard limit, a new connection is served when nothing may be evicted", async () => {
    const { server, path } = await startServer({ ...SHORT, requestDeadlineMs: 10_000, maxConnections: 2 });
    const conns = [await RawConnection.open(path), await RawConnection.open(path)];
    const extra = await RawConnection.open(path); // the others are younger than evictAfterMs
    assert.equal((await extra.call(join1)).status, 200);
    assert.ok(conns.every((c) => c.open));
    assert.equal(server.stats().evicted, 0);
    for (const c of [...conns, extra]) c.destroy();
    await server.close(100);
  });
});
