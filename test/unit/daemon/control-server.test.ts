/**
 * The control socket's connection limits: a request deadline, `Connection: close` over the soft
 * limit, and idle connections left alone. Real unix sockets, short limits.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { silentLogger } from "../../../src/core/index.js";
import { ControlServer } from "../../../src/daemon/control-server.js";
import type { HttpLimits } from "../../../src/plugin-api/index.js";
import { RawConnection, sleep } from "../plugin-api/raw-http.js";

const dir = mkdtempSync(join(tmpdir(), "weave-control-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

const LIMITS: HttpLimits = {
  requestDeadlineMs: 300,
  checkIntervalMs: 50,
  keepAliveConnections: 2,
  maxConnections: 100,
  evictAfterMs: 200,
};
const STATUS = "GET /status HTTP/1.1\r\nHost: weave\r\n\r\n";

async function start(): Promise<{ server: ControlServer; path: string }> {
  const path = join(dir, `c${++seq}.sock`);
  const server = new ControlServer(path, { "GET /status": async () => ({ up: true }) }, silentLogger, LIMITS);
  await server.start();
  return { server, path };
}

void describe("control socket limits", () => {
  void it("closes a connection whose request does not arrive within the deadline", async () => {
    const { server, path } = await start();
    try {
      const stuck = await RawConnection.open(path);
      stuck.write("GET /sta");
      const ms = await stuck.closed;
      assert.ok(ms >= 250 && ms < 2_000, `closed after ${ms} ms`);
    } finally {
      await server.close();
    }
  });

  void it("keeps an idle connection past the deadline, and says Connection: close over the soft limit", async () => {
    const { server, path } = await start();
    try {
      const a = await RawConnection.open(path);
      const first = await a.call(STATUS);
      assert.deepEqual(JSON.parse(first.body), { up: true });
      assert.notEqual(first.headers.get("connection"), "close");
      await sleep(700);
      assert.equal((await a.call(STATUS)).status, 200, "reused after more than twice the deadline");
      const b = await RawConnection.open(path);
      const c = await RawConnection.open(path);
      const res = await c.call(STATUS);
      assert.equal(res.headers.get("connection"), "close");
      await c.closed;
      assert.ok(a.open && b.open);
      a.destroy();
      b.destroy();
    } finally {
      await server.close();
    }
  });
});
