import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCode } from "../../../src/core/index.js";
import { ScriptedHttp, isWeaveError } from "../../../src/core/index.js";
import type { EtcdStoreOptions } from "../../../src/store/index.js";
import { EtcdStore } from "../../../src/store/index.js";

const E1 = "http://10.0.0.1:2379";
const E2 = "http://10.0.0.2:2379";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const at = (endpoint: string, path: string) => `POST ${endpoint}${path}`;

function store(http: ScriptedHttp, options: Partial<EtcdStoreOptions> = {}): EtcdStore {
  return new EtcdStore({ endpoints: [E1, E2], timeoutMs: 50, watchCheckMs: 60_000, http, ...options });
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isWeaveError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

const kv = (key: string, value: string, mod: number, lease?: string) => ({
  key: b64(key),
  value: b64(value),
  create_revision: "3",
  mod_revision: String(mod),
  version: "1",
  ...(lease === undefined ? {} : { lease }),
});

void describe("EtcdStore requests and answers", () => {
  void it("get and list send base64 ranges and decode keys, values, revisions and leases", async () => {
    const http = new ScriptedHttp()
      .expect(
        at(E1, "/v3/kv/range"),
        { json: { header: { revision: "9" }, kvs: [kv("/a", "1", 7, "0")], count: "1" } },
        { json: { key: b64("/a") } },
      )
      .expect(at(E1, "/v3/kv/range"), { json: { header: { revision: "9" } } }, { json: { key: b64("/b") } })
      .expect(
        at(E1, "/v3/kv/range"),
        {
          json: {
            header: { revision: "12" },
            kvs: [kv("/p/x", "é", 8, "694d7a1f6e7c4b05"), kv("/p/y", "", 9)],
          },
        },
        { json: { key: b64("/p/"), range_end: b64("/p0"), limit: "5000" } },
      );
    const s = store(http);
    assert.deepEqual(await s.get("/a"), {
      key: "/a",
      value: "1",
      createRevision: 3,
      modRevision: 7,
      lease: "",
    });
    assert.equal(await s.get("/b"), undefined);
    assert.deepEqual(await s.list("/p/"), {
      revision: 12,
      items: [
        { key: "/p/x", value: "é", createRevision: 3, modRevision: 8, lease: "694d7a1f6e7c4b05" },
        { key: "/p/y", value: "", createRevision: 3, modRevision: 9, lease: "" },
      ],
    });
    http.assertDone();
    assert.deepEqual(
      http.sent.map((r) => [r.timeoutMs, r.headers]),
      Array.from({ length: 3 }, () => [50, { "Content-Type": "application/json" }]),
    );
  });

  void it("put, delete and the compare-and-swap family send the right bodies", async () => {
    const value = b64("v");
    const http = new ScriptedHttp()
      .expect(
        at(E1, "/v3/kv/put"),
        { json: { header: { revision: "20" } } },
        { json: { key: b64("/k"), value } },
      )
      .expect(
        at(E1, "/v3/kv/put"),
        { json: { header: { revision: "21" } } },
        { json: { key: b64("/k"), value, lease: "77" } },
      )
      .expect(
        at(E1, "/v3/kv/deleterange"),
        { json: { header: {}, deleted: "1" } },
        { json: { key: b64("/k") } },
      )
      .expect(at(E1, "/v3/kv/deleterange"), { json: { header: {} } }, { json: { key: b64("/k") } })
      .expect(
        at(E1, "/v3/kv/txn"),
        { json: { header: {}, succeeded: true } },
        {
          json: {
            compare: [{ key: b64("/k"), result: "EQUAL", target: "CREATE", create_revision: "0" }],
            success: [{ request_put: { key: b64("/k"), value, lease: "77" } }],
          },
        },
      )
      .expect(
        at(E1, "/v3/kv/txn"),
        { json: { header: {} } },
        {
          json: {
            compare: [{ key: b64("/k"), result: "EQUAL", target: "MOD", mod_revision: "21" }],
            success: [{ request_put: { key: b64("/k"), value } }],
          },
        },
      )
      .expect(
        at(E1, "/v3/kv/txn"),
        { json: { succeeded: true } },
        {
          json: {
            compare: [{ key: b64("/k"), result: "EQUAL", target: "MOD", mod_revision: "22" }],
            success: [{ request_delete_range: { key: b64("/k") } }],
          },
        },
      );
    const s = store(http);
    assert.equal(await s.put("/k", "v"), 20);
    assert.equal(await s.put("/k", "v", { lease: "77" }), 21);
    assert.equal(await s.delete("/k"), true);
    assert.equal(await s.delete("/k"), false, "etcd leaves out deleted: 0");
    assert.equal(await s.create("/k", "v", { lease: "77" }), true);
    assert.equal(await s.compareAndSwap("/k", 21, "v"), false, "etcd leaves out succeeded: false");
    assert.equal(await s.compareAndDelete("/k", 22), true);
    http.assertDone();
  });

  void it("grants, renews and revokes leases", async () => {
    const http = new ScriptedHttp()
      .expect(
        at(E1, "/v3/lease/grant"),
        { json: { header: {}, ID: "7587869", TTL: "15" } },
        { json: { TTL: "15" } },
      )
      .expect(at(E1, "/v3/lease/grant"), { json: { error: "etcdserver: too many requests" } })
      .expect(at(E1, "/v3/lease/grant"), { json: { TTL: "15" } })
      .expect(
        at(E1, "/v3/lease/keepalive"),
        { json: { result: { ID: "7587869", TTL: "15" } } },
        { json: { ID: "7587869" } },
      )
      .expect(at(E1, "/v3/lease/keepalive"), { json: { result: { ID: "7587869" } } })
      .expect(at(E1, "/v3/lease/revoke"), { json: { header: {} } }, { json: { ID: "7587869" } })
      .expect(at(E1, "/v3/lease/revoke"), {
        status: 404,
        json: { error: "etcdserver: requested lease not found", code: 5 },
      })
      .expect(at(E1, "/v3/lease/revoke"), {
        status: 503,
        json: { error: "etcdserver: no leader", code: 14 },
      })
      .expect(at(E2, "/v3/lease/revoke"), {
        status: 503,
        json: { error: "etcdserver: no leader", code: 14 },
      });
    const s = store(http);
    assert.equal(await s.grantLease(15), "7587869");
    await rejectsWith(
      s.grantLease(15),
      "WEAVE_STATE",
      /^etcd \/v3\/lease\/grant failed: etcdserver: too many requests$/,
    );
    await rejectsWith(s.grantLease(15), "WEAVE_STATE", /^etcd granted no lease: no ID$/);
    assert.equal(await s.keepAlive("7587869"), 15);
    assert.equal(await s.keepAlive("7587869"), 0, "an expired lease renews to TTL 0 (left out)");
    await s.revokeLease("7587869");
    await s.revokeLease("7587869"); // already gone: fine
    // A cluster without a leader cannot serve: as unreachable (one round: timeoutMs < retryPauseMs).
    await rejectsWith(s.revokeLease("7587869"), "WEAVE_TIMEOUT", /cannot serve now: etcdserver: no leader$/);
    http.assertDone();
  });
});

void describe("EtcdStore failures", () => {
  void it("rejects etcd's error answers and answers it cannot read with WEAVE_STATE, trying no other endpoint", async () => {
    const http = new ScriptedHttp()
      .expect(at(E1, "/v3/kv/put"), {
        status: 400,
        json: {
          error: "etcdserver: request is too large",
          code: 3,
          message: "etcdserver: request is too large",
        },
      })
      .expect(at(E1, "/v3/kv/range"), { status: 502, text: "<html>Bad Gateway</html>" })
      .expect(at(E1, "/v3/kv/range"), { json: { kvs: [{ value: b64("no key") }] } })
      .expect(at(E1, "/v3/kv/range"), { json: { header: { revision: "twelve" } } })
      .expect(at(E1, "/v3/kv/txn"), { json: [true] });
    const s = store(http);
    await rejectsWith(
      s.put("/k", "v"),
      "WEAVE_STATE",
      /^etcd \/v3\/kv\/put failed: etcdserver: request is too large$/,
    );
    await rejectsWith(
      s.get("/k"),
      "WEAVE_STATE",
      new RegExp(`^etcd ${E1}/v3/kv/range answered 502: <html>Bad Gateway</html>$`),
    );
    await rejectsWith(
      s.get("/k"),
      "WEAVE_STATE",
      /answered an unexpected shape: kvs\[0\]\.key is missing, expected a string$/,
    );
    await rejectsWith(s.list("/k"), "WEAVE_STATE", /header\.revision is a string, expected an integer$/);
    await rejectsWith(
      s.create("/k", "v"),
      "WEAVE_STATE",
      /answered 200: the value is an array, expected an object$/,
    );
    http.assertDone();
  });

  void it("fails over to the next endpoint when one is unreachable or silent, then prefers the one that answered", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:2379"), { code: "ECONNREFUSED" });
    const http = new ScriptedHttp()
      .expect(at(E1, "/v3/kv/put"), { error: refused })
      .expect(at(E2, "/v3/kv/put"), { json: { header: { revision: "5" } } })
      .expect(at(E2, "/v3/kv/range"), { timeout: true })
      .expect(at(E1, "/v3/kv/range"), { json: {} })
      .expect(at(E1, "/v3/kv/range"), { json: {} });
    const s = store(http);
    assert.equal(await s.put("/k", "v"), 5);
    assert.equal(await s.get("/k"), undefined);
    assert.equal(await s.get("/k"), undefined);
    http.assertDone();
    assert.deepEqual(http.log, [
      at(E1, "/v3/kv/put"),
      at(E2, "/v3/kv/put"),
      at(E2, "/v3/kv/range"),
      at(E1, "/v3/kv/range"),
      at(E1, "/v3/kv/range"),
    ]);
  });

  void it("rides out a leader election: members that cannot serve are passed over and asked again", async () => {
    const leaderChanged = {
      status: 503,
      json: { error: "etcdserver: leader changed", code: 14, message: "etcdserver: leader changed" },
    };
    const noLeader = {
      status: 503,
      json: { error: "etcdserver: no leader", code: 14, message: "etcdserver: no leader" },
    };
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.3:2379"), { code: "ECONNREFUSED" });
    const E3 = "http://10.0.0.3:2379";
    const http = new ScriptedHttp()
      // The leader E3 is dead; E1 lost it during the read, E2 has none yet; a round later E1 has one.
      .expect(at(E3, "/v3/kv/range"), { error: refused })
      .expect(at(E1, "/v3/kv/range"), leaderChanged)
      .expect(at(E2, "/v3/kv/range"), noLeader)
      .expect(at(E3, "/v3/kv/range"), { error: refused })
      .expect(at(E1, "/v3/kv/range"), { json: { kvs: [kv("/k", "v", 4)], header: { revision: "9" } } })
      // A write answered "request timed out" (a gRPC UNAVAILABLE) goes to the next member.
      .expect(at(E1, "/v3/kv/txn"), {
        status: 503,
        json: { error: "etcdserver: request timed out", code: 14, message: "etcdserver: request timed out" },
      })
      .expect(at(E2, "/v3/kv/txn"), { json: { succeeded: true, header: { revision: "10" } } });
    const s = store(http, { endpoints: [E3, E1, E2], timeoutMs: 1_000, retryPauseMs: 1 });
    assert.equal((await s.get("/k"))?.value, "v");
    assert.equal(await s.create("/n", "v"), true);
    http.assertDone();
  });

  void it("gives up with WEAVE_TIMEOUT, saying why, when no member can serve for timeoutMs / retryPauseMs rounds", async () => {
    const noLeader = {
      status: 503,
      json: { error: "etcdserver: no leader", code: 14, message: "etcdserver: no leader" },
    };
    const http = new ScriptedHttp()
      .expect(at(E1, "/v3/kv/put"), noLeader)
      .expect(at(E2, "/v3/kv/put"), noLeader)
      .expect(at(E1, "/v3/kv/put"), noLeader)
      .expect(at(E2, "/v3/kv/put"), noLeader);
    const s = store(http, { timeoutMs: 1_000, retryPauseMs: 500 });
    await rejectsWith(
      s.put("/k", "v"),
      "WEAVE_TIMEOUT",
      new RegExp(`^etcd ${E2}/v3/kv/put cannot serve now: etcdserver: no leader$`),
    );
    http.assertDone();
  });

  void it("rejects with WEAVE_TIMEOUT and the last endpoint's failure when none answers", async () => {
    const tlsAlert = Object.assign(new Error("SSL routines::tlsv13 alert certificate required"), {
      code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
      reason: "tlsv13 alert certificate required",
    });
    const badCert = Object.assign(new Error("unable to verify the first certificate"), {
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    });
    const hangUp = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const http = new ScriptedHttp()
      .expect(at(E1, "/v3/kv/range"), { error: hangUp })
      .expect(at(E2, "/v3/kv/range"), { hang: true })
      .expect(at(E1, "/v3/kv/range"), { error: hangUp })
      .expect(at(E2, "/v3/kv/range"), { error: hangUp })
      .expect("POST https://10.0.0.3:2379/v3/kv/range", { error: tlsAlert })
      .expect("POST https://10.0.0.3:2379/v3/kv/range", { error: badCert });
    const s = store(http);
    await rejectsWith(
      s.get("/k"),
      "WEAVE_TIMEOUT",
      new RegExp(`^etcd ${E2}/v3/kv/range: no answer within 50 ms$`),
    );
    await rejectsWith(
      s.get("/k"),
      "WEAVE_TIMEOUT",
      new RegExp(
        `^Cannot reach etcd at ${E2}: socket hang up \\(an etcd that serves TLS does this to plain HTTP\\)$`,
      ),
    );
    const tls = store(http, { endpoints: ["https://10.0.0.3:2379"] });
    await rejectsWith(
      tls.get("/k"),
      "WEAVE_TIMEOUT",
      /^etcd at https:\/\/10\.0\.0\.3:2379 refused the TLS connection \(tlsv13 alert certificate required\): it wants a client certificate/,
    );
    await rejectsWith(
      tls.get("/k"),
      "WEAVE_TIMEOUT",
      /^Cannot verify the TLS certificate of etcd at https:\/\/10\.0\.0\.3:2379 \(unable to verify the first certificate\)/,
    );
    await tls.close();
    http.assertDone();
  });
});
