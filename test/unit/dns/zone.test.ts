import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isWeaveError } from "../../../src/core/index.js";
import {
  type ResourceRecord,
  RRType,
  toZoneName,
  Zone,
  type ZoneChange,
  type ZoneResult,
} from "../../../src/dns/index.js";

const A = RRType.A;
const AAAA = RRType.AAAA;

function addresses(r: ZoneResult): string[] {
  if (r.kind !== "answer") return [];
  return r.answers.map((a) =>
    a.type === "A" || a.type === "AAAA" ? a.address : a.type === "PTR" ? a.target : a.type,
  );
}

function names(r: ZoneResult): string[] {
  return r.kind === "answer" ? r.answers.map((a: ResourceRecord) => a.name) : [];
}

void describe("Zone", () => {
  void it("answers A and AAAA for registered names, case-insensitively, under the name as asked", () => {
    const zone = new Zone();
    zone.set("c1", [{ name: "db", ipv4: ["10.32.0.5"], ipv6: ["FD00:0::5"] }]);
    assert.deepEqual(addresses(zone.lookup("db.weave.local.", A)), ["10.32.0.5"]);
    assert.deepEqual(addresses(zone.lookup("DB.Weave.LOCAL.", AAAA)), ["fd00::5"]);
    assert.deepEqual(names(zone.lookup("DB.Weave.LOCAL.", A)), ["DB.Weave.LOCAL."]);
    assert.deepEqual(addresses(zone.lookup("db.weave.local.", RRType.ANY)).sort(), ["10.32.0.5", "fd00::5"]);
    assert.ok(zone.lookup("db.weave.local.", A).kind === "answer");
  });

  void it("gives NXDOMAIN with the SOA for unknown names, NODATA for other types and empty non-terminals", () => {
    const zone = new Zone({ ttl: 7 });
    zone.set("c1", [{ name: "a.b", ipv4: ["10.32.0.1"] }]);
    const nx = zone.lookup("nope.weave.local.", A);
    assert.equal(nx.kind, "nxdomain");
    assert.ok(nx.kind === "nxdomain" && nx.authority[0]?.type === "SOA" && nx.authority[0].minimum === 7);
    assert.equal(zone.lookup("a.b.weave.local.", AAAA).kind, "nodata");
    assert.equal(zone.lookup("a.b.weave.local.", RRType.MX).kind, "nodata");
    assert.equal(zone.lookup("b.weave.local.", A).kind, "nodata", "empty non-terminal exists");
    assert.equal(zone.lookup("weave.local.", A).kind, "nodata");
    assert.equal(zone.lookup("weave.local.", RRType.SOA).kind, "answer");
    assert.equal(zone.lookup("weave.local.", RRType.AXFR).kind, "refused");
    assert.equal(zone.lookup("a.b.weave.local.", A, 3).kind, "refused", "class CH");
    zone.remove("c1");
    assert.equal(zone.lookup("b.weave.local.", A).kind, "nxdomain");
  });

  void it("answers single-label queries from the domain and forwards unknown ones", () => {
    const zone = new Zone();
    zone.set("c1", [{ name: "db", ipv4: ["10.32.0.5"] }]);
    const r = zone.lookup("DB.", A);
    assert.deepEqual(addresses(r), ["10.32.0.5"]);
    assert.deepEqual(names(r), ["DB."]);
    assert.equal(zone.lookup("db.", RRType.MX).kind, "nodata");
    assert.equal(zone.lookup("com.", A).kind, "notauth");
    assert.equal(zone.lookup("example.com.", A).kind, "notauth");
    assert.equal(zone.lookup(".", RRType.NS).kind, "notauth");
  });

  void it("answers PTR for registered addresses and forwards other reverse names", () => {
    const zone = new Zone();
    zone.set("c1", [{ name: "db", ipv4: ["10.32.0.5"], ipv6: ["fd00::5"] }]);
    zone.set("c2", [
      { name: "db", ipv4: ["10.32.0.5"] },
      { name: "alias", ipv4: ["10.32.0.5"] },
    ]);
    assert.deepEqual(addresses(zone.lookup("5.0.32.10.in-addr.arpa.", RRType.PTR)).sort(), [
      "alias.weave.local.",
      "db.weave.local.",
    ]);
    const v6 = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    assert.deepEqual(addresses(zone.lookup(v6.toUpperCase(), RRType.PTR)), ["db.weave.local."]);
    assert.equal(zone.lookup("6.0.32.10.in-addr.arpa.", RRType.PTR).kind, "notauth");
    zone.remove("c2");
    assert.deepEqual(addresses(zone.lookup("5.0.32.10.in-addr.arpa.", RRType.PTR)), ["db.weave.local."]);
    zone.remove("c1");
    assert.equal(zone.lookup("5.0.32.10.in-addr.arpa.", RRType.PTR).kind, "notauth");
  });

  void it("merges several owners of one name and shuffles with the injected random source", () => {
    let next = 0;
    const seq = [0.99, 0.0, 0.5, 0.2, 0.7, 0.1];
    const zone = new Zone({ random: () => seq[next++ % seq.length] as number });
    zone.set("c1", [{ name: "web", ipv4: ["10.32.0.1", "10.32.0.2"] }]);
    zone.set("c2", [{ name: "web", ipv4: ["10.32.0.3", "10.32.0.1"] }]);
    const orders = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const got = addresses(zone.lookup("web.weave.local.", A));
      assert.deepEqual([...got].sort(), ["10.32.0.1", "10.32.0.2", "10.32.0.3"], "deduplicated union");
      orders.add(got.join(","));
    }
    assert.ok(orders.size > 1, "order changes between replies");
  });

  void it("shares names and addresses between owners and forgets each owner's part alone", () => {
    // The indexes hold one entry per name or address until a second owner shares it.
    const zone = new Zone();
    const view = (src: string): string[] => {
      const scopes = zone.viewFor(src, "10.32.0.1").scopes;
      return scopes === undefined ? ["(every network)"] : [...scopes].sort();
    };
    zone.set("c1", [
      { name: "web", ipv4: ["10.32.0.5"], scope: "front", member: true },
      { name: "www", ipv4: ["10.32.0.5"], scope: "front", member: true },
    ]);
    zone.set("c2", [{ name: "web", ipv4: ["10.32.0.6"], scope: "back", member: true }]);
    zone.set("m", [{ name: "web", ipv4: ["10.32.0.5"] }]);
    assert.deepEqual(addresses(zone.lookup("web.weave.local.", A)).sort(), ["10.32.0.5", "10.32.0.6"]);
    assert.deepEqual(addresses(zone.lookup("5.0.32.10.in-addr.arpa.", RRType.PTR)).sort(), [
      "web.weave.local.",
      "www.weave.local.",
    ]);
    assert.deepEqual(view("10.32.0.5"), ["front"]);
    zone.remove("c1");
    assert.deepEqual(addresses(zone.lookup("web.weave.local.", A)).sort(), ["10.32.0.5", "10.32.0.6"]);
    assert.deepEqual(addresses(zone.lookup("5.0.32.10.in-addr.arpa.", RRType.PTR)), ["web.weave.local."]);
    assert.equal(zone.lookup("www.weave.local.", A).kind, "nxdomain");
    assert.deepEqual(view("10.32.0.5"), ["(every network)"], "a stranger now: no container owns it");
    zone.remove("m");
    assert.deepEqual(addresses(zone.lookup("web.weave.local.", A)), ["10.32.0.6"]);
    assert.deepEqual(zone.get("c2"), [
      { name: "web.weave.local.", ipv4: ["10.32.0.6"], ipv6: [], scope: "back", member: true },
    ]);
    zone.remove("c2");
    assert.equal(zone.lookup("web.weave.local.", A).kind, "nxdomain");
    assert.equal(zone.lookup("5.0.32.10.in-addr.arpa.", RRType.PTR).kind, "notauth");
    assert.deepEqual(zone.snapshot().owners, []);
  });

  void it("replaces an owner's records atomically and bumps the version only on change", () => {
    const zone = new Zone();
    const v0 = zone.version;
    assert.equal(zone.set("c1", [{ name: "old", ipv4: ["10.32.0.1"] }]), true);
    const v1 = zone.version;
    assert.ok(v1 > v0);
    assert.equal(zone.set("c1", [{ name: "old.weave.local", ipv4: ["10.32.0.1"] }]), false, "same data");
    assert.equal(zone.version, v1);
    zone.set("c1", [{ name: "new", ipv4: ["10.32.0.2"] }]);
    assert.equal(zone.lookup("old.weave.local.", A).kind, "nxdomain");
    assert.deepEqual(addresses(zone.lookup("new.weave.local.", A)), ["10.32.0.2"]);
    assert.throws(
      () =>
        zone.set("c1", [
          { name: "ok", ipv4: ["10.32.0.3"] },
          { name: "bad name!", ipv4: ["10.32.0.4"] },
        ]),
      (err) => isWeaveError(err, "WEAVE_BAD_REQUEST") && /bad name!/.test(err.message),
    );
    assert.throws(
      () => zone.set("c1", [{ name: "x", ipv4: ["10.32.0.300"] }]),
      (err) => isWeaveError(err, "WEAVE_BAD_REQUEST"),
    );
    assert.throws(
      () => zone.set("c1", [{ name: "x", ipv6: ["10.0.0.1"] }]),
      (err) => isWeaveError(err, "WEAVE_BAD_REQUEST"),
    );
    assert.deepEqual(
      addresses(zone.lookup("new.weave.local.", A)),
      ["10.32.0.2"],
      "failed set changed nothing",
    );
    assert.equal(zone.lookup("ok.weave.local.", A).kind, "nxdomain");
    assert.equal(zone.set("c1", []), true, "empty list removes");
    assert.equal(zone.remove("c1"), false);
    assert.deepEqual(zone.ownerKeys(), []);
  });

  void it("normalises names: relative, absolute in the domain, rejects outside or invalid", () => {
    const d = "weave.local.";
    assert.equal(toZoneName("db", d), "db.weave.local.");
    assert.equal(toZoneName("Web.Prod", d), "web.prod.weave.local.");
    assert.equal(toZoneName("db.weave.local", d), "db.weave.local.");
    assert.equal(toZoneName("db.weave.local.", d), "db.weave.local.");
    assert.equal(toZoneName("foo.example.com.", d), undefined);
    assert.equal(toZoneName("weave.local", d), undefined);
    assert.equal(toZoneName("a..b", d), undefined);
    assert.equal(toZoneName("x".repeat(64), d), undefined);
    assert.equal(toZoneName(`${"a".repeat(63)}.`.repeat(4), d), undefined);
    const custom = new Zone({ domain: "Cluster.Example" });
    assert.equal(custom.domain, "cluster.example.");
    custom.set("c", [{ name: "db", ipv4: ["10.0.0.1"] }]);
    assert.equal(custom.lookup("db.cluster.example.", A).kind, "answer");
    assert.equal(custom.lookup("db.weave.local.", A).kind, "notauth");
    assert.throws(
      () => new Zone({ domain: "bad domain" }),
      (err) => isWeaveError(err, "WEAVE_CONFIG"),
    );
    assert.throws(
      () => new Zone({ ttl: -1 }),
      (err) => isWeaveError(err, "WEAVE_CONFIG"),
    );
  });

  void it("keeps replicas identical through snapshot, load and applied changes", () => {
    const source = new Zone();
    source.set("c1", [{ name: "a", ipv4: ["10.32.0.1"] }]);
    const replica = new Zone();
    replica.load(JSON.parse(JSON.stringify(source.snapshot())) as ReturnType<Zone["snapshot"]>);
    const changes: ZoneChange[] = [];
    source.subscribe((c) => changes.push(c));
    source.set("c2", [{ name: "b", ipv6: ["fd00::2"] }]);
    source.remove("c1");
    for (const c of changes) replica.apply(JSON.parse(JSON.stringify(c)) as ZoneChange);
    assert.equal(replica.version, source.version);
    assert.deepEqual(replica.snapshot(), source.snapshot());
    assert.equal(replica.lookup("a.weave.local.", A).kind, "nxdomain");
    assert.deepEqual(addresses(replica.lookup("b.weave.local.", AAAA)), ["fd00::2"]);
    const soa = replica.soa();
    assert.ok(soa.type === "SOA" && soa.serial === source.version);
  });
});
