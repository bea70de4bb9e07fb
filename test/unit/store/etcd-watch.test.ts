import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCode, ScriptedAnswer } from "../../../src/core/index.js";
import { ScriptedBody, ScriptedHttp, isWeaveError } from "../../../src/core/index.js";
import type { EtcdStoreOptions, WatchEvent } from "../../../src/store/index.js";
import { EtcdStore, isWatchCompacted } from "../../../src/store/index.js";

const E1 = "http://10.0.0.1:2379";
const E2 = "http://10.0.0.2:2379";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const WATCH1 = `POST ${E1}/v3/watch`;
const WATCH2 = `POST ${E2}/v3/watch`;
const PROBE1 = `POST ${E1}/v3/kv/range`;

function store(http: ScriptedHttp, options: Partial<EtcdStoreOptions> = {}): EtcdStore {
  return new EtcdStore({ endpoints: [E1, E2], timeoutMs: 50, watchCheckMs: 60_000, http, ...options });
}

/** The body of a watch of `prefix` from `rev`. */
function watchBody(prefix: string, rev: number, end: string): { json: unknown } {
  return { json: { create_request: { key: b64(prefix), range_end: b64(end), start_revision: String(rev) } } };
}

const created = `${JSON.stringify({ result: { header: { revision: "10" }, created: true } })}\n`;

function events(...list: [type: "PUT" | "DELETE", key: string, value: string, mod: number][]): string {
  const out = list.map(([type, key, value, mod]) => ({
    ...(type === "DELETE" ? { type } : {}),
    kv: { key: b64(key), ...(value === "" ? {} : { value: b64(value) }), mod_revision: String(mod) },
  }));
  return `${JSON.stringify({ result: { header: { revision: String(list.at(-1)?.[3] ?? 0) }, events: out } })}\n`;
}

/** Waits (a few ms at a time, 2 s at most) until `done` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), `timed out waiting for ${what}`);
}

function watcher(s: EtcdStore, prefix = "/w/", from = 11) {
  const seen: WatchEvent[] = [];
  const errors: Error[] = [];
  const w = s.watch(
    prefix,
    from,
    (e) => seen.push(e),
    (e) => errors.push(e),
  );
  return { seen, errors, close: () => w.close() };
}

function assertOneError(errors: Error[], code: ErrorCode, message: RegExp): void {
  assert.equal(errors.length, 1, `one onError, got ${errors.map(String).join("; ")}`);
  assert.ok(isWeaveError(errors[0], code), `expected ${code}, got ${String(errors[0])}`);
  assert.match(errors[0].message, message);
}

void describe("EtcdStore.watch", () => {
  void it("sends the prefix range from the revision and delivers puts and deletes in order", async () => {
    const body = new ScriptedBody();
    const http = new ScriptedHttp().expect(WATCH1, { stream: body }, watchBody("/w/", 11, "/w0"));
    const s = store(http);
    const w = watcher(s);
    const text =
      created +
      events(["PUT", "/w/a", "1", 11], ["PUT", "/w/b", "2", 12]) +
      events(["DELETE", "/w/a", "", 13]);
    for (let i = 0; i < text.length; i += 40) body.push(text.slice(i, i + 40));
    await until(() => w.seen.length === 3, "three events");
    assert.deepEqual(w.seen, [
      { type: "put", key: "/w/a", value: "1", modRevision: 11 },
      { type: "put", key: "/w/b", value: "2", modRevision: 12 },
      { type: "delete", key: "/w/a", value: "", modRevision: 13 },
    ]);
    assert.equal(http.sent[0]?.timeoutMs, 50, "the watch request times out until etcd answers");
    await s.close();
    assert.equal(body.cancelled, true, "closing the store closes its watches");
    body.push(events(["PUT", "/w/c", "3", 14]));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(w.seen.length, 3);
    assert.deepEqual(w.errors, []);
    http.assertDone();
  });

  const endings: [string, ScriptedAnswer | ((body: ScriptedBody) => void), ErrorCode, RegExp][] = [
    [
      "a compacted revision",
      (b) =>
        b.push(
          `${JSON.stringify({ result: { canceled: true, compact_revision: "40", cancel_reason: "mvcc: required revision has been compacted" } })}\n`,
        ),
      "WEAVE_STATE",
      /^The store compacted past the watch of "\/w\/": it asked for revision 11, the oldest kept is 40$/,
    ],
    [
      "a cancel without a compaction",
      (b) => b.push(`${JSON.stringify({ result: { canceled: true, cancel_reason: "no space" } })}\n`),
      "WEAVE_STATE",
      /^etcd watch ended: no space$/,
    ],
    [
      "an error message",
      (b) =>
        b.push(
          `${JSON.stringify({ error: { grpc_code: 14, http_code: 503, message: "etcdserver: no leader" } })}\n`,
        ),
      "WEAVE_STATE",
      /^etcd watch ended: etcdserver: no leader$/,
    ],
    ["the end of the stream", (b) => b.end(), "WEAVE_STATE", new RegExp(`^etcd at ${E1} closed the watch$`)],
    [
      "a broken connection",
      (b) => b.fail(Object.assign(new Error("aborted"), { code: "ECONNRESET" })),
      "WEAVE_TIMEOUT",
      new RegExp(`^Lost the watch connection to etcd at ${E1}: aborted$`),
    ],
    [
      "a line that is not JSON",
      (b) => b.push("{oops\n"),
      "WEAVE_STATE",
      /^etcd sent a watch message that is not JSON: \{oops$/,
    ],
    [
      "a message of the wrong shape",
      (b) => b.push(`${JSON.stringify({ result: { events: [{ type: "PUT" }] } })}\n`),
      "WEAVE_STATE",
      /^etcd sent a watch message of an unexpected shape: result\.events\[0\]\.kv is missing, expected an object$/,
    ],
    [
      "an error status",
      { status: 400, text: '{"error":"bad request"}' },
      "WEAVE_STATE",
      new RegExp(`^etcd ${E1}/v3/watch answered 400: \\{"error":"bad request"\\}$`),
    ],
    [
      "no answer in time",
      { hang: true },
      "WEAVE_TIMEOUT",
      new RegExp(`^etcd ${E1}/v3/watch: no answer within 50 ms$`),
    ],
  ];
  for (const [what, how, code, message] of endings) {
    void it(`ends with one onError on ${what}, and delivers nothing after`, async () => {
      const body = new ScriptedBody();
      const http = new ScriptedHttp().expect(WATCH1, typeof how === "function" ? { stream: body } : how);
      const s = store(http);
      const w = watcher(s);
      body.push(created + events(["PUT", "/w/a", "1", 11]));
      if (typeof how === "function") how(body);
      await until(() => w.errors.length > 0, "onError");
      body.push(events(["PUT", "/w/b", "2", 12]));
      await new Promise((r) => setTimeout(r, 10));
      assertOneError(w.errors, code, message);
      assert.ok(w.seen.length <= 1 && w.seen.every((e) => e.key === "/w/a"), JSON.stringify(w.seen));
      w.close();
      await s.close();
      http.assertDone();
    });
  }

  void it("ends with WatchCompacted, carrying the revisions, when etcd cancels it for a compaction", async () => {
    const body = new ScriptedBody();
    const http = new ScriptedHttp().expect(WATCH1, { stream: body }, watchBody("/w/", 11, "/w0"));
    const s = store(http);
    const w = watcher(s);
    // What etcd 3.4.23 sends for a start revision below its compaction: no cancel_reason.
    body.push(
      `${JSON.stringify({ result: { header: { raft_term: "2" }, canceled: true, compact_revision: "40" } })}\n`,
    );
    await until(() => w.errors.length > 0, "onError");
    const err = w.errors[0];
    assert.ok(isWatchCompacted(err), `expected WatchCompacted, got ${String(err)}`);
    assert.ok(isWeaveError(err, "WEAVE_STATE"));
    assert.deepEqual([err.prefix, err.fromRevision, err.compactRevision], ["/w/", 11, 40]);
    assert.equal(body.cancelled, true);
    await s.close();
    http.assertDone();
  });

  void it("ends with onError when the event handler throws, delivering no later event", async () => {
    const body = new ScriptedBody();
    const http = new ScriptedHttp().expect(WATCH1, { stream: body });
    const s = store(http);
    const seen: string[] = [];
    const errors: Error[] = [];
    s.watch(
      "/w/",
      11,
      (e) => {
        seen.push(e.key);
        if (e.key === "/w/bad") throw new Error("cannot apply");
      },
      (e) => errors.push(e),
    );
    body.push(events(["PUT", "/w/a", "1", 11], ["PUT", "/w/bad", "2", 12], ["PUT", "/w/c", "3", 13]));
    await until(() => errors.length > 0, "onError");
    assertOneError(errors, "WEAVE_INTERNAL", /^The handler of the watch of "\/w\/" failed: cannot apply$/);
    assert.deepEqual(seen, ["/w/a", "/w/bad"]);
    assert.equal(body.cancelled, true);
    http.assertDone();
  });

  void it("after an unreachable endpoint, the owner's next watch goes to the next endpoint", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:2379"), { code: "ECONNREFUSED" });
    const body = new ScriptedBody();
    const http = new ScriptedHttp()
      .expect(WATCH1, { error: refused })
      .expect(WATCH2, { stream: body }, watchBody("/w/", 11, "/w0"))
      .expect(`POST ${E2}/v3/kv/range`, { json: {} });
    const s = store(http);
    const first = watcher(s);
    await until(() => first.errors.length > 0, "onError");
    assertOneError(
      first.errors,
      "WEAVE_TIMEOUT",
      new RegExp(`^Cannot reach etcd at ${E1}: connect ECONNREFUSED`),
    );
    const again = watcher(s);
    body.push(events(["PUT", "/w/a", "1", 11]));
    await until(() => again.seen.length === 1, "the event on the second endpoint");
    assert.equal(await s.get("/w/a"), undefined, "later calls go to the endpoint that works");
    again.close();
    http.assertDone();
  });

  void it("two failed liveness checks in a row end the watch and move to the next endpoint", async () => {
    const body = new ScriptedBody();
    const probe = { json: { key: b64("/w/"), count_only: true } };
    const http = new ScriptedHttp()
      .expect(WATCH1, { stream: body })
      .expect(PROBE1, { json: { header: { revision: "10" } } }, probe)
      .expect(PROBE1, { error: new Error("socket hang up") }, probe)
      .expect(PROBE1, { timeout: true }, probe)
      .expect(`POST ${E2}/v3/kv/range`, { json: {} });
    const s = store(http, { watchCheckMs: 5 });
    const w = watcher(s);
    await until(() => w.errors.length > 0, "onError");
    assertOneError(
      w.errors,
      "WEAVE_TIMEOUT",
      new RegExp(
        `^etcd at ${E1} failed 2 liveness checks in a row, ending the watch of "/w/": etcd ${E1}/v3/kv/range: no answer within 5 ms$`,
      ),
    );
    assert.equal(body.cancelled, true);
    assert.deepEqual(
      http.sent.slice(1).map((r) => r.timeoutMs),
      [5, 5, 5],
      "a check waits min(timeoutMs, watchCheckMs)",
    );
    await s.get("/w/a");
    await new Promise((r) => setTimeout(r, 20));
    http.assertDone();
  });

  void it("confirms a failed check at once, not a whole interval later", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const settle = async () => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    };
    const fail = { error: new Error("socket hang up") };
    const http = new ScriptedHttp()
      .expect(WATCH1, { stream: new ScriptedBody() })
      .expect(PROBE1, fail)
      .expect(PROBE1, fail);
    const s = store(http, { watchCheckMs: 1_000 });
    const w = watcher(s);
    await settle();
    t.mock.timers.tick(999);
    await settle();
    assert.equal(http.sent.length, 1, "no check before the interval");
    t.mock.timers.tick(1);
    await settle();
    assert.equal(http.sent.length, 2, "the first check");
    t.mock.timers.tick(0);
    await settle();
    assert.equal(http.sent.length, 3, "the failed check is confirmed at once");
    assertOneError(w.errors, "WEAVE_TIMEOUT", /failed 2 liveness checks in a row/);
    http.assertDone();
  });

  void it("a failed check followed by a good one keeps the watch; close stops the checks", async () => {
    const body = new ScriptedBody();
    const fail = { error: new Error("socket hang up") };
    const http = new ScriptedHttp()
      .expect(WATCH1, { stream: body })
      .expect(PROBE1, fail)
      .expect(PROBE1, { json: {} })
      .expect(PROBE1, fail)
      .expect(PROBE1, { json: {} });
    const s = store(http, { watchCheckMs: 5 });
    const w = watcher(s);
    await http.waitForRequests(5);
    await new Promise((r) => setImmediate(r));
    w.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(w.errors, []);
    assert.equal(http.sent.length, 5, "no check after close");
    assert.equal(body.cancelled, true);
    http.assertDone();
  });
});
