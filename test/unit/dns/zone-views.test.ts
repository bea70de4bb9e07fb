import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ALL_NETWORKS,
  decodeMessage,
  encodeQuery,
  Rcode,
  Responder,
  RRType,
  Zone,
  type ZoneChange,
  type ZoneResult,
} from "../../../src/dns/index.js";

const A = RRType.A;
const PTR = RRType.PTR;

function addresses(r: ZoneResult): string[] {
  if (r.kind !== "answer") return [];
  return r.answers
    .map((a) => (a.type === "A" || a.type === "AAAA" ? a.address : a.type === "PTR" ? a.target : a.type))
    .sort();
}

/** web on network a (10.1.0.2), db on b (10.2.0.2), both on a and b (10.1.0.3 / 10.2.0.3). */
function zoneOfTwoNetworks(): Zone {
  const zone = new Zone();
  zone.set("c:web", [{ name: "web", ipv4: ["10.1.0.2"], scope: "a", member: true }]);
  zone.set("c:db", [{ name: "db", ipv4: ["10.2.0.2"], ipv6: ["fd02::2"], scope: "b", member: true }]);
  zone.set("c:both", [
    { name: "both", ipv4: ["10.1.0.3"], scope: "a", member: true },
    { name: "both", ipv4: ["10.2.0.3"], scope: "b", member: true },
  ]);
  zone.setGateways([
    ["10.1.0.1", "a"],
    ["10.2.0.1", "b"],
  ]);
  return zone;
}

void describe("Zone views (names per network)", () => {
  void it("a container sees the names of its own network only, wherever it asks", () => {
    const zone = zoneOfTwoNetworks();
    const fromWeb = zone.viewFor("10.1.0.2", "10.1.0.1");
    assert.deepEqual(addresses(zone.lookup("web.weave.local.", A, 1, fromWeb)), ["10.1.0.2"]);
    assert.equal(zone.lookup("db.weave.local.", A, 1, fromWeb).kind, "nxdomain");
    assert.equal(zone.lookup("db.weave.local.", RRType.AAAA, 1, fromWeb).kind, "nxdomain");
    // Asking at network b's gateway (routed through the host) does not change what web sees.
    const viaB = zone.viewFor("10.1.0.2", "10.2.0.1");
    assert.equal(zone.lookup("db.weave.local.", A, 1, viaB).kind, "nxdomain");
    assert.deepEqual(addresses(zone.lookup("both.weave.local.", A, 1, viaB)), ["10.1.0.3"]);
    // Nor does the --nameserver address.
    assert.equal(
      zone.lookup("db.weave.local.", A, 1, zone.viewFor("10.1.0.2", "192.0.2.1")).kind,
      "nxdomain",
    );
    // Single-label questions for another network's names are not ours: forwarded.
    assert.equal(zone.lookup("db.", A, 1, fromWeb).kind, "notauth");
  });

  void it("a container on several networks sees the union, each name with its address on the asker's networks", () => {
    const zone = zoneOfTwoNetworks();
    const fromBoth = zone.viewFor("10.2.0.3", "10.2.0.1");
    assert.deepEqual(fromBoth.scopes && [...fromBoth.scopes].sort(), ["a", "b"]);
    assert.deepEqual(addresses(zone.lookup("web.weave.local.", A, 1, fromBoth)), ["10.1.0.2"]);
    assert.deepEqual(addresses(zone.lookup("db.weave.local.", A, 1, fromBoth)), ["10.2.0.2"]);
    const fromDb = zone.viewFor("10.2.0.2", "10.2.0.1");
    assert.deepEqual(addresses(zone.lookup("both.weave.local.", A, 1, fromDb)), ["10.2.0.3"]);
  });

  void it("reverse lookups of another network's addresses are not answered", () => {
    const zone = zoneOfTwoNetworks();
    const fromWeb = zone.viewFor("10.1.0.2", "10.1.0.1");
    assert.equal(zone.lookup("2.0.2.10.in-addr.arpa.", PTR, 1, fromWeb).kind, "notauth");
    assert.deepEqual(addresses(zone.lookup("3.0.1.10.in-addr.arpa.", PTR, 1, fromWeb)), [
      "both.weave.local.",
    ]);
    const fromDb = zone.viewFor("10.2.0.2", "10.2.0.1");
    assert.deepEqual(addresses(zone.lookup("2.0.2.10.in-addr.arpa.", PTR, 1, fromDb)), ["db.weave.local."]);
  });

  void it("a stranger sees the network of the gateway it asked, the host and other addresses everything", () => {
    const zone = zoneOfTwoNetworks();
    const atA = zone.viewFor("172.17.0.2", "10.1.0.1");
    assert.deepEqual(addresses(zone.lookup("web.weave.local.", A, 1, atA)), ["10.1.0.2"]);
    assert.equal(zone.lookup("db.weave.local.", A, 1, atA).kind, "nxdomain");
    assert.equal(zone.viewFor("10.1.0.1", "10.1.0.1"), ALL_NETWORKS, "the host asking at a gateway");
    assert.equal(zone.viewFor("10.2.0.1", "10.1.0.1"), ALL_NETWORKS, "the host, from another gateway");
    assert.equal(zone.viewFor("127.0.0.1", "10.1.0.1"), ALL_NETWORKS, "the host, masqueraded");
    const atNameserver = zone.viewFor("172.17.0.2", "192.0.2.1");
    assert.equal(atNameserver, ALL_NETWORKS);
    assert.deepEqual(addresses(zone.lookup("db.weave.local.", A, 1, atNameserver)), ["10.2.0.2"]);
  });

  void it("records added by hand are seen by every network, or by the one they are scoped to", () => {
    const zone = zoneOfTwoNetworks();
    zone.set("m:ext.weave.local.", [{ name: "ext.weave.local.", ipv4: ["10.9.9.9"] }]);
    zone.set("m:only-b.weave.local.", [{ name: "only-b.weave.local.", ipv4: ["10.9.9.8"], scope: "b" }]);
    const fromWeb = zone.viewFor("10.1.0.2", "10.1.0.1");
    const fromDb = zone.viewFor("10.2.0.2", "10.2.0.1");
    assert.deepEqual(addresses(zone.lookup("ext.weave.local.", A, 1, fromWeb)), ["10.9.9.9"]);
    assert.deepEqual(addresses(zone.lookup("ext.weave.local.", A, 1, fromDb)), ["10.9.9.9"]);
    assert.equal(zone.lookup("only-b.weave.local.", A, 1, fromWeb).kind, "nxdomain");
    assert.deepEqual(addresses(zone.lookup("only-b.weave.local.", A, 1, fromDb)), ["10.9.9.8"]);
    // A hand record with another container's address does not make its asker a member anywhere.
    zone.set("c:web", [
      { name: "web", ipv4: ["10.1.0.2"], scope: "a", member: true },
      { name: "alias", ipv4: ["10.1.0.2"], scope: "b" },
    ]);
    const again = zone.viewFor("10.1.0.2", "10.1.0.1");
    assert.deepEqual(again.scopes && [...again.scopes], ["a"]);
  });

  void it("empty non-terminals of another network do not exist for a view", () => {
    const zone = new Zone();
    zone.set("c:x", [{ name: "x.team", ipv4: ["10.1.0.9"], scope: "a", member: true }]);
    const fromB = zone.view(["b"]);
    const fromA = zone.view(["a"]);
    assert.equal(zone.lookup("team.weave.local.", A, 1, fromB).kind, "nxdomain");
    assert.equal(zone.lookup("team.weave.local.", A, 1, fromA).kind, "nodata");
  });

  void it("views follow changes: a container that leaves a network stops seeing it", () => {
    const zone = zoneOfTwoNetworks();
    assert.ok(zone.viewFor("10.2.0.3", "10.2.0.1").scopes?.has("a"));
    zone.set("c:both", [{ name: "both", ipv4: ["10.2.0.3"], scope: "b", member: true }]);
    assert.equal(zone.viewFor("10.2.0.3", "10.2.0.1").scopes?.has("a"), false);
    zone.remove("c:both");
    // Now a stranger: it sees the gateway's network.
    assert.deepEqual([...(zone.viewFor("10.2.0.3", "10.2.0.1").scopes ?? [])], ["b"]);
  });

  void it("replicas get scopes, members and gateways through snapshots and changes", () => {
    const zone = zoneOfTwoNetworks();
    const replica = new Zone();
    replica.load(zone.snapshot());
    const changes: ZoneChange[] = [];
    zone.subscribe((c) => changes.push(c));
    zone.setGateways([["10.3.0.1", "c"]]);
    zone.set("c:new", [{ name: "new", ipv4: ["10.3.0.2"], scope: "c", member: true }]);
    for (const c of changes) replica.apply(c);
    assert.equal(replica.version, zone.version);
    const fromNew = replica.viewFor("10.3.0.2", "10.3.0.1");
    assert.deepEqual(addresses(replica.lookup("new.weave.local.", A, 1, fromNew)), ["10.3.0.2"]);
    assert.equal(replica.lookup("web.weave.local.", A, 1, fromNew).kind, "nxdomain");
    assert.deepEqual([...(replica.viewFor("172.17.0.2", "10.3.0.1").scopes ?? [])], ["c"]);
    assert.equal(replica.viewFor("172.17.0.2", "10.1.0.1"), ALL_NETWORKS, "old gateways are gone");
  });
});

function reply(res: unknown): { rcode: number; ips: string[] } {
  assert.ok(res instanceof Buffer, "expected a reply");
  const d = decodeMessage(res);
  assert.ok(d);
  const ips = d.answers
    .filter((a) => a.type === A)
    .map((a) => res.subarray(a.rdataOffset, a.rdataOffset + 4).join("."));
  return { rcode: d.rcode, ips };
}

void describe("Responder with views", () => {
  void it("answers the same question differently per asker, from cache too", () => {
    const zone = zoneOfTwoNetworks();
    const responder = new Responder({ zone });
    const q = encodeQuery("db.weave.local.", A);
    for (let round = 0; round < 2; round++) {
      const fromWeb = reply(responder.respond(q, false, "10.1.0.2", "10.1.0.1"));
      assert.equal(fromWeb.rcode, Rcode.NXDOMAIN, `round ${round}: web does not see db`);
      const fromDb = reply(responder.respond(q, false, "10.2.0.2", "10.2.0.1"));
      assert.deepEqual(fromDb, { rcode: Rcode.NOERROR, ips: ["10.2.0.2"] });
      const host = reply(responder.respond(q, true));
      assert.deepEqual(
        host,
        { rcode: Rcode.NOERROR, ips: ["10.2.0.2"] },
        "without an asker: the host's view",
      );
    }
  });
});
