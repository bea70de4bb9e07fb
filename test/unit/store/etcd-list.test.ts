/** EtcdStore.list: paged, one snapshot at the first page's revision, started over after a compaction. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ScriptedHttp, isWeaveError } from "../../../src/core/index.js";
import { EtcdStore } from "../../../src/store/index.js";

const E1 = "http://10.0.0.1:2379";
const RANGE = `POST ${E1}/v3/kv/range`;
const b64 = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");
/** The key just after `key`: its bytes and a 0 byte. */
const after = (key: string) => b64(Buffer.concat([Buffer.from(key, "utf8"), Buffer.from([0])]));
const END = b64("/p0");

function store(http: ScriptedHttp, pageSize?: number): EtcdStore {
  return new EtcdStore({
    endpoints: [E1],
    timeoutMs: 50,
    watchCheckMs: 60_000,
    http,
    ...(pageSize === undefined ? {} : { pageSize }),
  });
}

const kv = (key: string, mod: number) => ({
  key: b64(key),
  value: b64(`v${mod}`),
  create_revision: String(mod),
  mod_revision: String(mod),
});

/** A range answer at header revision `rev`; etcd leaves out `more` when false. */
const page = (rev: number, more: boolean, ...kvs: ReturnType<typeof kv>[]) => ({
  json: { header: { revision: String(rev) }, kvs, count: String(kvs.length), ...(more ? { more } : {}) },
});

const COMPACTED = {
  status: 400,
  json: {
    error: "etcdserver: mvcc: required revision has been compacted",
    message: "etcdserver: mvcc: required revision has been compacted",
    code: 11,
  },
};

void describe("EtcdStore.list paging", () => {
  void it("reads pageSize keys at a time, each next page after the last key and at the first page's revision", async () => {
    const http = new ScriptedHttp()
      .expect(RANGE, page(30, true, kv("/p/a", 3), kv("/p/b", 4)), {
        json: { key: b64("/p/"), range_end: END, limit: "2" },
      })
      // Later pages come back with the store's current revision in the header; the listing keeps 30.
      .expect(RANGE, page(31, true, kv("/p/c", 5), kv("/p/é", 6)), {
        json: { key: after("/p/b"), range_end: END, limit: "2", revision: "30" },
      })
      .expect(RANGE, page(33, false, kv("/p/f", 7)), {
        json: { key: after("/p/é"), range_end: END, limit: "2", revision: "30" },
      });
    const listed = await store(http, 2).list("/p/");
    assert.equal(listed.revision, 30);
    assert.deepEqual(
      listed.items.map((x) => [x.key, x.value, x.modRevision]),
      [
        ["/p/a", "v3", 3],
        ["/p/b", "v4", 4],
        ["/p/c", "v5", 5],
        ["/p/é", "v6", 6],
        ["/p/f", "v7", 7],
      ],
    );
    http.assertDone();
  });

  void it("pages 5000 keys at a time by default, and one page is enough for a small prefix", async () => {
    const http = new ScriptedHttp().expect(RANGE, page(9, false, kv("/p/a", 3)), {
      json: { key: b64("/p/"), range_end: END, limit: "5000" },
    });
    assert.deepEqual(
      (await store(http).list("/p/")).items.map((x) => x.key),
      ["/p/a"],
    );
    http.assertDone();
  });

  void it("starts over at a fresh revision when etcd compacted the listing's revision mid-way", async () => {
    const first = { key: b64("/p/"), range_end: END, limit: "2" };
    const http = new ScriptedHttp()
      .expect(RANGE, page(30, true, kv("/p/a", 3), kv("/p/b", 4)), { json: first })
      .expect(RANGE, COMPACTED, { json: { key: after("/p/b"), range_end: END, limit: "2", revision: "30" } })
      // Meanwhile /p/a went and /p/c came: the new listing has only the new snapshot.
      .expect(RANGE, page(41, true, kv("/p/b", 4), kv("/p/c", 40)), { json: first })
      .expect(RANGE, page(41, false), {
        json: { key: after("/p/c"), range_end: END, limit: "2", revision: "41" },
      });
    const listed = await store(http, 2).list("/p/");
    assert.equal(listed.revision, 41);
    assert.deepEqual(
      listed.items.map((x) => x.key),
      ["/p/b", "/p/c"],
    );
    http.assertDone();
  });

  void it("gives up after 3 listings compacted mid-way, with etcd's error", async () => {
    const http = new ScriptedHttp();
    for (let i = 0; i < 3; i++)
      http.expect(RANGE, page(30 + i, true, kv("/p/a", 3))).expect(RANGE, COMPACTED, {
        json: { key: after("/p/a"), range_end: END, limit: "1", revision: String(30 + i) },
      });
    await assert.rejects(store(http, 1).list("/p/"), (err: unknown) => {
      assert.ok(isWeaveError(err, "WEAVE_STATE"));
      assert.match(
        err.message,
        /^etcd \/v3\/kv\/range failed: etcdserver: mvcc: required revision has been compacted$/,
      );
      return true;
    });
    http.assertDone();
  });

  void it("does not start over for other errors, nor loop on a page that says more but holds nothing", async () => {
    const http = new ScriptedHttp()
      .expect(RANGE, page(30, true, kv("/p/a", 3)))
      .expect(RANGE, { status: 503, json: { error: "etcdserver: no leader", code: 14 } })
      .expect(RANGE, page(30, true));
    const s = store(http, 1);
    await assert.rejects(s.list("/p/"), /no leader/);
    await assert.rejects(
      s.list("/p/"),
      /^WeaveError: etcd answered a listing of "\/p\/" with more keys but none/,
    );
    http.assertDone();
  });

  void it("refuses a page size that is not a positive integer", () => {
    for (const pageSize of [0, -1, 1.5, Number.NaN])
      assert.throws(
        () => store(new ScriptedHttp(), pageSize),
        (err: unknown) => isWeaveError(err, "WEAVE_CONFIG") && /Invalid etcd page size/.test(err.message),
      );
  });

  void it("compact sends the revision as an int64 string", async () => {
    const http = new ScriptedHttp()
      .expect(
        `POST ${E1}/v3/kv/compaction`,
        { json: { header: { revision: "50" } } },
        { json: { revision: "45" } },
      )
      .expect(`POST ${E1}/v3/kv/compaction`, COMPACTED, { json: { revision: "45" } });
    const s = store(http);
    await s.compact(45);
    await assert.rejects(s.compact(45), /required revision has been compacted/);
    http.assertDone();
  });
});
