/**
 * EtcdStore at scale against a real etcd started by this test on loopback: a paged listing is one
 * snapshot whatever is written meanwhile, starts over when its revision is compacted mid-way, and a
 * PrefixMirror whose watch starts on a compacted revision lists again and ends with the store's
 * exact content.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PrefixMirror } from "../../src/cluster/mirror.js";
import type { HttpRequest, HttpTransport } from "../../src/core/index.js";
import { createLogger, nodeHttp } from "../../src/core/index.js";
import type { KeyValue } from "../../src/store/index.js";
import { EtcdStore, prefixEnd } from "../../src/store/index.js";
import type { TestEtcd } from "./helpers/etcd.js";
import { etcdMissing, startEtcd } from "./helpers/etcd.js";

const missing = etcdMissing();
const b64 = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");
let n = 0;
const newPrefix = () => `/weave-test/snapshot/${process.pid}-${Date.now()}-${n++}/`;

/** node:http, with `hook` run after each listing page arrives and before the store sees it. */
function hookedHttp(hook: (req: HttpRequest) => Promise<void>): HttpTransport & { pages: string[] } {
  const pages: string[] = [];
  return {
    pages,
    async request(req) {
      const res = await nodeHttp.request(req);
      if (req.path === "/v3/kv/range" && req.body?.includes("range_end")) {
        pages.push(req.body);
        await hook(req);
      }
      return res;
    },
    stream: (req) => nodeHttp.stream(req),
  };
}

/** Writes `count` keys "k0000".. under `prefix`, 50 at a time, in a shuffled order; resolves with the last revision. */
async function writeKeys(s: EtcdStore, prefix: string, count: number): Promise<number> {
  const keys = Array.from({ length: count }, (_, i) => `k${String(i).padStart(4, "0")}`);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [keys[i], keys[j]] = [keys[j] ?? "", keys[i] ?? ""];
  }
  let last = 0;
  for (let i = 0; i < keys.length; i += 50) {
    const revs = await Promise.all(keys.slice(i, i + 50).map((k) => s.put(prefix + k, `v-${k}`)));
    last = Math.max(last, ...revs);
  }
  return last;
}

const pairs = (items: KeyValue[]) => items.map((kv) => [kv.key, kv.value, kv.modRevision]);

void describe("EtcdStore snapshots against a real etcd", { skip: missing ?? false, timeout: 120_000 }, () => {
  let etcd: TestEtcd | undefined;
  let plain: EtcdStore;
  const endpoint = () => etcd?.endpoint ?? "";

  before(async () => {
    etcd = await startEtcd();
    plain = new EtcdStore({ endpoints: [endpoint()], timeoutMs: 5_000, pageSize: 100_000 });
  });

  after(async () => {
    await plain.close();
    etcd?.stop();
  });

  /** One unpaged read of `prefix` at `revision` (etcd's own snapshot, to compare with). */
  async function readAt(prefix: string, revision: number): Promise<[string, string, number][]> {
    const res = await nodeHttp.request({
      target: { origin: endpoint() },
      method: "POST",
      path: "/v3/kv/range",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        key: b64(prefix),
        range_end: b64(prefixEnd(prefix)),
        revision: String(revision),
      }),
      timeoutMs: 5_000,
    });
    const kvs = (JSON.parse(res.body) as { kvs?: { key: string; value?: string; mod_revision: string }[] })
      .kvs;
    return (kvs ?? []).map((kv) => [
      Buffer.from(kv.key, "base64").toString(),
      Buffer.from(kv.value ?? "", "base64").toString(),
      Number(kv.mod_revision),
    ]);
  }

  void it("lists 2,500 keys in pages of 1,000, in key order, at the revision of the last write", async () => {
    const prefix = newPrefix();
    const last = await writeKeys(plain, prefix, 2_500);
    await plain.put(prefix.slice(0, -1) + "0", "just past the prefix");
    const http = hookedHttp(async () => undefined);
    const s = new EtcdStore({ endpoints: [endpoint()], pageSize: 1_000, http });
    const listed = await s.list(prefix);
    assert.equal(listed.items.length, 2_500);
    const keys = Array.from({ length: 2_500 }, (_, i) => `${prefix}k${String(i).padStart(4, "0")}`);
    assert.deepEqual(
      listed.items.map((kv) => kv.key),
      keys,
    );
    assert.ok(listed.items.every((kv) => kv.value === `v-${kv.key.slice(prefix.length)}`));
    assert.equal(listed.revision, last + 1, "the revision of the store when listed");
    assert.equal(http.pages.length, 3, "three pages");
    assert.deepEqual(pairs(listed.items), await readAt(prefix, listed.revision));
  });

  void it("leaves out what is written between its pages: one snapshot", async () => {
    const prefix = newPrefix();
    await writeKeys(plain, prefix, 2_500);
    const before = await plain.list(prefix);
    let writes = 0;
    const http = hookedHttp(async () => {
      // Between pages: new keys on both sides of the page boundary, changes and deletes.
      const k = (i: number) => `${prefix}k${String(i).padStart(4, "0")}`;
      await plain.put(`${k(100)}-new${writes}`, "new");
      await plain.put(`${k(2_400)}-new${writes}`, "new");
      await plain.put(k(1_500 + writes), "changed");
      await plain.delete(k(2_000 + writes));
      writes++;
    });
    const s = new EtcdStore({ endpoints: [endpoint()], pageSize: 1_000, http });
    const listed = await s.list(prefix);
    assert.equal(writes, 3, "writes after each page");
    assert.equal(listed.revision, before.revision);
    assert.deepEqual(pairs(listed.items), pairs(before.items));
    assert.equal((await plain.list(prefix)).items.length, 2_500 + 3 * 2 - 3, "the writes happened");
  });

  void it("is one snapshot while another client writes as fast as it can", async () => {
    const prefix = newPrefix();
    await writeKeys(plain, prefix, 2_500);
    const s = new EtcdStore({ endpoints: [endpoint()], pageSize: 100 });
    let stop = false;
    let written = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await plain.put(`${prefix}k${String(i % 2_500).padStart(4, "0")}-w`, String(i));
        if (i % 3 === 0) await plain.delete(`${prefix}k${String(i % 2_500).padStart(4, "0")}`);
        written++;
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    const listed = await s.list(prefix).finally(() => (stop = true));
    await writer;
    const latest = await plain.list(prefix);
    assert.ok(written > 0 && latest.revision > listed.revision, `writes went on (${written})`);
    assert.deepEqual(
      pairs(listed.items),
      await readAt(prefix, listed.revision),
      "the store at that revision",
    );
  });

  void it("starts over at a fresh revision when etcd compacts the listing's revision mid-way", async () => {
    const prefix = newPrefix();
    await writeKeys(plain, prefix, 250);
    let compactions = 0;
    const http = hookedHttp(async () => {
      if (compactions++ > 0) return;
      await plain.delete(`${prefix}k0000`);
      await plain.compact(await plain.put(`${prefix}late`, "x"));
    });
    const s = new EtcdStore({ endpoints: [endpoint()], pageSize: 100, http });
    const listed = await s.list(prefix);
    assert.equal(http.pages.length, 2 + 3, "a failed second page, then three pages");
    assert.equal(listed.items.length, 250);
    assert.equal(listed.items.at(-1)?.key, `${prefix}late`);
    assert.equal(listed.items[0]?.key, `${prefix}k0001`);
    assert.deepEqual(pairs(listed.items), await readAt(prefix, listed.revision));
  });

  void it("a PrefixMirror whose watch starts on a compacted revision lists again at once and ends with the store's content", async () => {
    const prefix = newPrefix();
    await writeKeys(plain, prefix, 300);
    let hooked = false;
    // Once the mirror has its listing, and before it watches: other hosts' writes, then a compaction.
    const http = hookedHttp(async () => {
      if (hooked) return;
      hooked = true;
      await plain.delete(`${prefix}k0001`);
      await plain.put(`${prefix}k0002`, "changed");
      await plain.put(`${prefix}new`, "new");
      await plain.compact(await plain.put(`${prefix}k0003`, "changed"));
    });
    // One page: the writes come after the whole listing (between pages they would restart it).
    const s = new EtcdStore({ endpoints: [endpoint()], pageSize: 1_000, http });
    const lines: { level: string; msg: string }[] = [];
    const health: boolean[] = [];
    const resets: number[] = [];
    const mirror = new PrefixMirror({
      store: s,
      prefix,
      logger: createLogger({
        level: "info",
        sink: (l) => lines.push(JSON.parse(l) as { level: string; msg: string }),
      }),
      onChange: (c) => c?.kind === "reset" && resets.push(Date.now()),
      onHealth: (ok) => health.push(ok),
    });
    mirror.start();
    for (let i = 0; i < 200 && resets.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(resets.length, 2, "listed twice");
    const gap = (resets[1] ?? 0) - (resets[0] ?? 0);
    assert.ok(gap < 400, `at once, not after the 0.5 s back-off (${gap} ms)`);
    assert.ok(
      lines.some((l) => l.level === "info" && l.msg === "the store compacted past this watch; listing again"),
    );
    assert.deepEqual(health, [true, true]);
    const sorted = (items: Iterable<KeyValue>) =>
      [...items]
        .map((kv) => [kv.key, kv.value, kv.modRevision])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    assert.deepEqual(sorted(mirror.entries()), sorted((await plain.list(prefix)).items));
    assert.equal(mirror.get(`${prefix}k0001`), undefined);
    assert.equal(mirror.get(`${prefix}k0002`)?.value, "changed");
    await plain.put(`${prefix}after`, "watched");
    for (let i = 0; i < 200 && !mirror.get(`${prefix}after`); i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(mirror.get(`${prefix}after`)?.value, "watched", "watching again");
    mirror.close();
    await s.close();
  });
});
