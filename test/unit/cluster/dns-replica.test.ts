/**
 * DnsReplica over an in-memory store with this host's real session, publisher and DNS mirror:
 * the host's own records go out under dns/<host>/ with its lease, every other host's come into the
 * zone as r:<host>:<owner>, and leave it when they disappear from the store.
 */
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DNS, dnsKey, dnsPrefix, StoreHealth } from "../../../src/cluster/index.js";
import { DnsReplica, LISTING_CHUNK } from "../../../src/cluster/dns-replica.js";
import { PrefixMirror } from "../../../src/cluster/mirror.js";
import { LeasedPublisher } from "../../../src/cluster/publisher.js";
import { Session } from "../../../src/cluster/session.js";
import { silentLogger } from "../../../src/core/index.js";
import { RRType, Zone } from "../../../src/dns/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";

const NOW = 1_700_000_000_000;
const now = (): number => NOW;

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** Host `name`'s side of weaveDNS replication, composed as Cluster composes it. */
async function member(store: MemoryClusterStore, name: string, zone = new Zone()) {
  const health = new StoreHealth(silentLogger, now, "etcd://test");
  const session = new Session({
    store,
    health,
    state: openSqliteState(":memory:"),
    logger: silentLogger,
    now,
    peer: { name, address: "192.0.2.1", vxlanPort: 4789, version: "test", startedAt: NOW },
  });
  await session.renewNow();
  assert.ok(session.lease, "registered");
  const publisher = new LeasedPublisher({
    store,
    health,
    session,
    prefix: dnsPrefix(name),
    logger: silentLogger,
  });
  const ref: { replica?: DnsReplica } = {};
  // As Cluster composes it: the mirror keeps nothing, the zone holds the records.
  const mirror = new PrefixMirror<never>({
    store,
    prefix: DNS,
    logger: silentLogger,
    onChange: (change) => ref.replica?.changed(change),
    keep: false,
  });
  // The zone's work: how many owners the replica set and removed.
  const work = { sets: 0, removes: 0 };
  const { set, remove } = { set: zone.set.bind(zone), remove: zone.remove.bind(zone) };
  zone.set = (owner, entries) => (work.sets++, set(owner, entries));
  zone.remove = (owner) => (work.removes++, remove(owner));
  const replica = new DnsReplica({ zone, host: name, publisher, logger: silentLogger });
  ref.replica = replica;
  mirror.start();
  replica.start();
  closers.push(
    () => replica.close(),
    () => publisher.close(),
    () => mirror.close(),
    () => session.close(),
  );
  while (!mirror.synced) await new Promise((r) => setImmediate(r));
  await publisher.flush();
  return { zone, session, publisher, replica, mirror, lease: session.lease, work };
}

/** What dns/<host>/ holds: owner (decoded) → parsed value, and the leases the keys hang on. */
async function published(store: MemoryClusterStore, host: string) {
  const items = (await store.list(dnsPrefix(host))).items;
  return {
    owners: Object.fromEntries(
      items.map((kv) => [
        decodeURIComponent(kv.key.slice(dnsPrefix(host).length)),
        JSON.parse(kv.value) as unknown,
      ]),
    ),
    leases: [...new Set(items.map((kv) => kv.lease))],
  };
}

function addresses(zone: Zone, name: string): string[] {
  const r = zone.lookup(name, RRType.A);
  return r.kind === "answer" ? r.answers.map((a) => (a.type === "A" ? a.address : a.type)).sort() : [];
}

const DB = { name: "db.weave.local.", ipv4: ["10.32.0.2"], ipv6: [], scope: "app", member: true as const };
const EXT = { name: "ext.weave.local.", ipv4: ["10.9.9.9"], ipv6: [] };

void describe("DnsReplica", () => {
  void it("publishes this host's container and hand-made records under its prefix and lease, and follows the zone", async () => {
    const store = new MemoryClusterStore();
    const zone = new Zone();
    zone.set("c:abc", [DB]); // before the replica starts
    zone.set("r:b:c:xyz", [{ name: "web", ipv4: ["10.32.0.9"] }]); // another host's, copied here
    const a = await member(store, "a", zone);
    a.zone.set("m:ext.weave.local.", [EXT]);
    a.zone.setGateways([["10.32.0.1", "app"]]); // each host's own: not published
    await a.publisher.flush();
    assert.deepEqual(await published(store, "a"), {
      owners: { "c:abc": { entries: [DB] }, "m:ext.weave.local.": { entries: [EXT] } },
      leases: [a.lease],
    });
    assert.deepEqual((await store.list(DNS)).items.length, 2, "nothing else is published");

    a.zone.set("c:abc", [{ ...DB, ipv4: ["10.32.0.3"] }]);
    a.zone.remove("m:ext.weave.local.");
    await a.publisher.flush();
    assert.deepEqual((await published(store, "a")).owners, {
      "c:abc": { entries: [{ ...DB, ipv4: ["10.32.0.3"] }] },
    });
    a.zone.remove("c:abc");
    await a.publisher.flush();
    assert.deepEqual((await published(store, "a")).owners, {});
  });

  void it("copies other hosts' records into the zone, follows their changes and drops them when they go", async () => {
    const store = new MemoryClusterStore();
    const a = await member(store, "a");
    await store.put(dnsKey("b", "c:xyz"), JSON.stringify({ entries: [DB] }));
    await store.put(dnsKey("c", "m:ext.weave.local."), JSON.stringify({ entries: [EXT] }));
    assert.deepEqual(a.zone.get("r:b:c:xyz"), [DB]);
    assert.deepEqual(a.zone.get("r:c:m:ext.weave.local."), [EXT]);
    assert.deepEqual(addresses(a.zone, "db.weave.local."), ["10.32.0.2"], "answered from memory");

    await store.put(dnsKey("b", "c:xyz"), JSON.stringify({ entries: [{ ...DB, ipv4: ["10.32.0.7"] }] }));
    assert.deepEqual(addresses(a.zone, "db.weave.local."), ["10.32.0.7"]);
    await store.delete(dnsKey("b", "c:xyz"));
    assert.equal(a.zone.get("r:b:c:xyz"), undefined);
    assert.deepEqual(addresses(a.zone, "db.weave.local."), []);
    assert.deepEqual(a.zone.get("r:c:m:ext.weave.local."), [EXT], "other hosts' records stay");
  });

  void it("follows a watch event by its key alone, and a listing by comparing it with what it copied", async () => {
    const store = new MemoryClusterStore();
    const a = await member(store, "a");
    const before = { ...a.work };
    for (let i = 0; i < 200; i++)
      await store.put(
        dnsKey("b", `c:${i}`),
        JSON.stringify({ entries: [{ ...DB, name: `n${i}.weave.local.` }] }),
      );
    assert.equal(a.zone.ownerKeys().filter((o) => o.startsWith("r:b:")).length, 200);
    for (let i = 100; i < 200; i++) await store.delete(dnsKey("b", `c:${i}`));
    assert.equal(a.zone.ownerKeys().filter((o) => o.startsWith("r:b:")).length, 100);
    assert.deepEqual(a.work, { sets: before.sets + 200, removes: before.removes + 100 }, "one step per key");
    assert.equal(a.mirror.size, 0, "the mirror keeps nothing: the zone has the records");

    // A listing after a broken watch: c:0 was deleted and c:1 changed meanwhile (events missed).
    const renamed = JSON.stringify({ entries: [{ ...DB, name: "renamed.weave.local." }] });
    const items = (await store.list(DNS)).items
      .filter((kv) => kv.key !== dnsKey("b", "c:0"))
      .map((kv) => (kv.key === dnsKey("b", "c:1") ? { ...kv, value: renamed, modRevision: 1e6 } : kv));
    const mid = { ...a.work };
    a.replica.changed({ kind: "reset", items });
    assert.equal(a.zone.get("r:b:c:0"), undefined);
    assert.deepEqual(addresses(a.zone, "renamed.weave.local."), ["10.32.0.2"]);
    assert.equal(a.zone.ownerKeys().filter((o) => o.startsWith("r:b:")).length, 99);
    assert.deepEqual(a.work, { sets: mid.sets + 1, removes: mid.removes + 1 }, "only c:0 and c:1 changed");
  });

  void it("skips records it cannot read and keys of another shape, and keeps the rest", async () => {
    const store = new MemoryClusterStore();
    const a = await member(store, "a");
    await store.put(dnsKey("b", "c:bad"), "{not json");
    await store.put(`${dnsPrefix("b")}c%3Adeep/extra`, JSON.stringify({ entries: [DB] }));
    await store.put(dnsKey("b", "c:good"), JSON.stringify({ entries: [EXT] }));
    assert.deepEqual(
      a.zone.ownerKeys().filter((o) => o.startsWith("r:")),
      ["r:b:c:good"],
    );
  });

  void it("does not copy its own records back into the zone", async () => {
    const store = new MemoryClusterStore();
    const a = await member(store, "a");
    a.zone.set("c:abc", [DB]);
    await a.publisher.flush();
    assert.ok(await store.get(dnsKey("a", "c:abc")), "published");
    await store.put(dnsKey("a", "c:old"), JSON.stringify({ entries: [EXT] })); // left by an earlier run
    assert.deepEqual(a.zone.ownerKeys(), ["c:abc"]);
    assert.deepEqual(addresses(a.zone, "db.weave.local."), ["10.32.0.2"]);
  });

  void it("two hosts see each other's names, and lose them when the other host's lease goes", async () => {
    const store = new MemoryClusterStore();
    const a = await member(store, "a");
    const b = await member(store, "b");
    a.zone.set("c:abc", [DB]);
    b.zone.set("m:ext.weave.local.", [EXT]);
    await a.publisher.flush();
    await b.publisher.flush();
    assert.deepEqual(b.zone.get("r:a:c:abc"), [DB]);
    assert.deepEqual(a.zone.get("r:b:m:ext.weave.local."), [EXT]);
    await store.revokeLease(b.lease ?? "");
    assert.equal(a.zone.get("r:b:m:ext.weave.local."), undefined, "b's names are gone with its lease");
    assert.deepEqual(b.zone.get("r:a:c:abc"), [DB]);
  });

  void it("stops publishing the zone's changes once closed", async () => {
    const store = new MemoryClusterStore();
    const a = await member(store, "a");
    a.replica.close();
    a.zone.set("c:abc", [DB]);
    await a.publisher.flush();
    assert.equal(await store.get(dnsKey("a", "c:abc")), undefined);
  });
});

void describe("DnsReplica with a listing longer than LISTING_CHUNK", () => {
  const record = (name: string, ip: string) =>
    JSON.stringify({ entries: [{ name: `${name}.weave.local.`, ipv4: [ip], ipv6: [] }] });
  const kv = (host: string, owner: string, value: string, modRevision: number) => ({
    key: dnsKey(host, owner),
    value,
    createRevision: 1,
    modRevision,
    lease: "",
  });
  const listing = (count: number, revision: number, host = "b") =>
    Array.from({ length: count }, (_, i) => kv(host, `c:${i}`, record(`n${i}`, "10.32.0.1"), revision));

  function replicaOf(zone: Zone): DnsReplica {
    const publisher = { replace: () => undefined } as unknown as LeasedPublisher;
    const replica = new DnsReplica({ zone, host: "a", publisher, logger: silentLogger });
    closers.push(() => replica.close());
    return replica;
  }
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };

  void it("copies it in chunks, yielding between them, and applies what came meanwhile after it, in order", async () => {
    const zone = new Zone();
    const replica = replicaOf(zone);
    const count = 3 * LISTING_CHUNK + 10;
    replica.changed({ kind: "reset", items: listing(count, 5) });
    assert.equal(zone.ownerKeys().length, LISTING_CHUNK, "one chunk, then the event loop's turn");
    // Newer than the listing: they must win over its copies, whenever the chunks reach them.
    replica.changed({
      kind: "key",
      key: dnsKey("b", "c:5000"),
      value: kv("b", "c:5000", record("moved", "10.32.0.9"), 6),
    });
    replica.changed({ kind: "key", key: dnsKey("b", "c:1"), value: undefined });
    replica.changed({
      kind: "key",
      key: dnsKey("c", "c:new"),
      value: kv("c", "c:new", record("new", "10.32.0.8"), 7),
    });
    await settle();
    assert.equal(zone.ownerKeys().length, count - 1 + 1);
    assert.equal(zone.get("r:b:c:1"), undefined, "deleted after the listing listed it");
    assert.deepEqual(zone.get("r:b:c:5000")?.[0]?.ipv4, ["10.32.0.9"]);
    assert.deepEqual(zone.get("r:c:c:new")?.[0]?.ipv4, ["10.32.0.8"]);
    assert.equal(zone.lookup("n6009.weave.local.", RRType.A).kind, "answer");
  });

  void it("lets a second long listing that came meanwhile replace the first, and drops what it lacks", async () => {
    const zone = new Zone();
    const replica = replicaOf(zone);
    replica.changed({ kind: "reset", items: listing(2 * LISTING_CHUNK + 1, 5) });
    replica.changed({ kind: "reset", items: listing(LISTING_CHUNK + 1, 9, "d") });
    await settle();
    assert.equal(zone.ownerKeys().length, LISTING_CHUNK + 1);
    assert.ok(zone.ownerKeys().every((o) => o.startsWith("r:d:")));
  });

  void it("stops copying when closed", async () => {
    const zone = new Zone();
    const replica = replicaOf(zone);
    replica.changed({ kind: "reset", items: listing(3 * LISTING_CHUNK, 5) });
    replica.close();
    await settle();
    assert.equal(zone.ownerKeys().length, LISTING_CHUNK);
  });
});
