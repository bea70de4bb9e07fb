import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { silentLogger } from "../../../src/core/index.js";
import { fakeSpawner } from "../../../src/dns/fake-worker.js";
import { UdpWorkerPool, type WorkerConfig } from "../../../src/dns/workers.js";
import { Zone } from "../../../src/dns/zone.js";

const config: WorkerConfig = {
  domain: "weave.local.",
  ttl: 1,
  maxUdpSize: 4096,
  cacheEntries: 100,
  logLevel: "error",
  upstream: { servers: [], resolvConf: undefined, timeoutMs: 1000, maxInFlight: 10 },
};

/** A zone as a cluster's replica fills it: `n` remote containers, one name and address each. */
function clusterZone(n: number): Zone {
  const zone = new Zone();
  for (let i = 0; i < n; i++) {
    zone.set(`r:host${i % 100}:c:${i}`, [
      { name: `svc${i}`, ipv4: [`10.32.${i >> 8}.${i & 255}`], scope: "weave", member: true },
    ]);
  }
  return zone;
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

void describe("UdpWorkerPool", () => {
  void it("sends the zone once at start, then each change as one small message", async () => {
    const zone = clusterZone(20_000);
    const { spawn, started } = fakeSpawner();
    const pool = new UdpWorkerPool({ count: 2, zone, config, logger: silentLogger, spawn });
    await pool.start();
    assert.equal(started.length, 2);
    for (const w of started) {
      assert.deepEqual(
        w.sent.map((s) => s.message.type),
        ["init", "own"],
      );
      assert.ok((w.sent[0]?.bytes ?? 0) > 20_000 * 50, "the snapshot carries every name");
    }
    zone.set("r:host7:c:new", [{ name: "new", ipv4: ["10.40.0.1"], scope: "weave", member: true }]);
    zone.remove("r:host3:c:3");
    for (const w of started) {
      const after = w.sent.slice(2);
      assert.deepEqual(
        after.map((s) => s.message),
        [
          {
            type: "zone",
            change: {
              op: "set",
              owner: "r:host7:c:new",
              entries: zone.get("r:host7:c:new"),
              version: 20_001,
            },
          },
          { type: "zone", change: { op: "remove", owner: "r:host3:c:3", version: 20_002 } },
        ],
      );
      for (const s of after) assert.ok(s.bytes < 300, `a change costs ${s.bytes} bytes`);
    }
    await pool.close();
  });

  void it("stops and starts again: stopped workers get nothing, new ones the current zone", async () => {
    const zone = clusterZone(10);
    const { spawn, started } = fakeSpawner();
    const pool = new UdpWorkerPool({ count: 1, zone, config, logger: silentLogger, spawn });
    await pool.start();
    const first = started[0];
    first?.reply({ type: "metrics", counts: [["A", "answer", 5000]] });
    assert.equal(pool.queries, 5000);
    await pool.stop();
    assert.equal(pool.running, false);
    assert.equal(first?.signalCode, "SIGTERM");
    const sentBefore = first?.sent.length;
    zone.set("c:late", [{ name: "late", ipv4: ["10.32.9.9"] }]);
    await settle();
    assert.equal(first?.sent.length, sentBefore, "nothing sent to a stopped worker");
    assert.equal(started.length, 1, "a stopped worker is not restarted");
    await pool.start();
    const second = started[1];
    const init = second?.sent[0]?.message;
    assert.equal(init?.type, "init");
    if (init?.type === "init") {
      assert.equal(init.snapshot.version, zone.version);
      assert.ok(init.snapshot.owners.some(([owner]) => owner === "c:late"));
    }
    await pool.close();
    await assert.rejects(pool.start(), { code: "WEAVE_NOT_RUNNING" });
  });
});
