import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeMessage,
  encodeQuery,
  Flag,
  ForwardRequest,
  type QueryOutcome,
  questionHash,
  Rcode,
  Responder,
  Zone,
} from "../../../src/dns/index.js";
import { prng } from "./fuzz-corpus.js";

function setup(random: () => number = Math.random): {
  zone: Zone;
  responder: Responder;
  seen: [string, QueryOutcome][];
} {
  const zone = new Zone({ random });
  zone.set("c1", [{ name: "db", ipv4: ["10.32.0.5"], ipv6: ["fd00::5"] }]);
  zone.set("big", [{ name: "big", ipv4: Array.from({ length: 60 }, (_, i) => `10.40.0.${i + 1}`) }]);
  const seen: [string, QueryOutcome][] = [];
  const responder = new Responder({ zone, random, onQuery: (t, o, n) => seen.push([t, o]) && n === 1 });
  return { zone, responder, seen };
}

function reply(res: Buffer | ForwardRequest | null): Buffer {
  assert.ok(res instanceof Buffer, "expected a reply");
  return res;
}

function ips(buf: Buffer): string[] {
  const d = decodeMessage(buf);
  assert.ok(d);
  return d.answers
    .filter((a) => a.type === 1)
    .map((a) => buf.subarray(a.rdataOffset, a.rdataOffset + 4).join("."));
}

void describe("Responder", () => {
  void it("answers from the zone with AA, RA, the query ID and the asker's case (cached or not)", () => {
    const { responder, seen } = setup();
    for (const [id, name] of [
      [1, "db.weave.local."],
      [2, "DB.WEAVE.local."],
      [3, "db.weave.local."],
    ] as const) {
      const r = reply(responder.respond(encodeQuery(name, 1, { id, rd: id !== 2 }), false));
      const d = decodeMessage(r);
      assert.equal(d?.id, id);
      assert.equal(d?.rcode, Rcode.NOERROR);
      assert.equal((d?.flags ?? 0) & (Flag.QR | Flag.AA | Flag.RA), Flag.QR | Flag.AA | Flag.RA);
      assert.equal(((d?.flags ?? 0) & Flag.RD) !== 0, id !== 2, "RD copied from the query");
      assert.equal(d?.questions[0]?.name, name);
      assert.equal(d?.answers[0]?.name, name);
      assert.deepEqual(ips(r), ["10.32.0.5"]);
    }
    assert.deepEqual(seen, [
      ["A", "answer"],
      ["A", "answer"],
      ["A", "answer"],
    ]);
  });

  void it("gives NXDOMAIN and NODATA with the SOA in authority, and REFUSED for zone transfers", () => {
    const { responder, seen } = setup();
    const nx = decodeMessage(reply(responder.respond(encodeQuery("nope.weave.local.", 1), false)));
    assert.equal(nx?.rcode, Rcode.NXDOMAIN);
    assert.equal(nx?.authority[0]?.type, 6);
    const nodata = decodeMessage(reply(responder.respond(encodeQuery("db.weave.local.", 15), false)));
    assert.equal(nodata?.rcode, Rcode.NOERROR);
    assert.equal(nodata?.answers.length, 0);
    assert.equal(nodata?.authority[0]?.type, 6);
    const axfr = decodeMessage(reply(responder.respond(encodeQuery("weave.local.", 252), true)));
    assert.equal(axfr?.rcode, Rcode.REFUSED);
    assert.deepEqual(
      seen.map(([, o]) => o),
      ["nxdomain", "nodata", "refused"],
    );
  });

  void it("drops cached answers when the zone changes", () => {
    const { zone, responder } = setup();
    assert.deepEqual(ips(reply(responder.respond(encodeQuery("db.weave.local.", 1), false))), ["10.32.0.5"]);
    zone.set("c1", [{ name: "db", ipv4: ["10.32.0.6"] }]);
    assert.deepEqual(ips(reply(responder.respond(encodeQuery("db.weave.local.", 1), false))), ["10.32.0.6"]);
    zone.remove("c1");
    const d = decodeMessage(reply(responder.respond(encodeQuery("db.weave.local.", 1), false)));
    assert.equal(d?.rcode, Rcode.NXDOMAIN);
  });

  void it("truncates UDP replies to whole records (TC) and honours the EDNS0 size and TCP", () => {
    const { responder } = setup();
    const plain = reply(responder.respond(encodeQuery("big.weave.local.", 1), false));
    assert.ok(plain.length <= 512);
    const d = decodeMessage(plain);
    assert.ok(((d?.flags ?? 0) & Flag.TC) !== 0);
    assert.equal(d?.answers.length, 29);
    const edns = reply(responder.respond(encodeQuery("big.weave.local.", 1, { ednsUdpSize: 4096 }), false));
    const e = decodeMessage(edns);
    assert.equal(e?.answers.length, 60);
    assert.equal((e?.flags ?? 0) & Flag.TC, 0);
    assert.equal(e?.additional[0]?.type, 41, "OPT echoed");
    const small = decodeMessage(
      reply(responder.respond(encodeQuery("big.weave.local.", 1, { ednsUdpSize: 700 }), false)),
    );
    assert.ok(((small?.flags ?? 0) & Flag.TC) !== 0 && small?.additional[0]?.type === 41);
    const tcp = decodeMessage(reply(responder.respond(encodeQuery("big.weave.local.", 1), true)));
    assert.equal(tcp?.answers.length, 60);
    assert.equal(tcp?.additional.length, 0, "no OPT when the query had none");
  });

  void it("shuffles cached answers per reply, truncated ones too, without losing or repeating any", () => {
    const { responder } = setup(prng(7));
    const firsts = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const full = ips(
        reply(responder.respond(encodeQuery("big.weave.local.", 1, { ednsUdpSize: 4096 }), false)),
      );
      assert.equal(new Set(full).size, 60);
      firsts.add(full[0] ?? "");
      const cut = ips(reply(responder.respond(encodeQuery("big.weave.local.", 1), false)));
      assert.equal(new Set(cut).size, cut.length);
      assert.ok(cut.every((ip) => ip.startsWith("10.40.0.")));
    }
    assert.ok(firsts.size > 5, `first answer varied only ${firsts.size} times`);
  });

  void it("returns a ForwardRequest for names outside the zone, and SERVFAIL when upstream is silent", () => {
    const { responder, seen } = setup();
    const q = encodeQuery("example.com.", 1, { id: 99, ednsUdpSize: 1400 });
    const fwd = responder.respond(q, false);
    assert.ok(fwd instanceof ForwardRequest);
    assert.equal(fwd.limit, 1400);
    const fail = decodeMessage(responder.forwarded(fwd, undefined));
    assert.equal(fail?.rcode, Rcode.SERVFAIL);
    assert.equal(fail?.id, 99);
    assert.equal(fail?.questions[0]?.name, "example.com.");
    assert.equal(fail?.additional[0]?.type, 41);
    const big = Buffer.alloc(2000);
    q.copy(big);
    const cut = decodeMessage(responder.forwarded(fwd, big));
    assert.ok(((cut?.flags ?? 0) & Flag.TC) !== 0);
    assert.deepEqual(
      seen.map(([, o]) => o),
      ["servfail", "forwarded"],
    );
  });

  void it("answers malformed packets cheaply: FORMERR, NOTIMP, BADVERS, or nothing", () => {
    const { responder, seen } = setup();
    assert.equal(responder.respond(Buffer.alloc(5), false), null);
    const resp = encodeQuery("db.weave.local.", 1);
    resp[2] = (resp[2] as number) | 0x80;
    assert.equal(responder.respond(resp, false), null, "responses are never answered");
    const two = encodeQuery("db.weave.local.", 1, { id: 5 });
    two.writeUInt16BE(2, 4);
    assert.equal(decodeMessage(reply(responder.respond(two, false)))?.rcode, Rcode.FORMERR);
    const notify = encodeQuery("db.weave.local.", 1);
    notify[2] = 4 << 3;
    assert.equal(decodeMessage(reply(responder.respond(notify, false)))?.rcode, Rcode.NOTIMP);
    const v1 = encodeQuery("db.weave.local.", 1, { ednsUdpSize: 1232 });
    v1[v1.length - 5] = 1; // EDNS version 1
    const bad = reply(responder.respond(v1, false));
    assert.equal(bad.readUInt32BE(bad.length - 6) >>> 24, 1, "extended rcode BADVERS");
    assert.deepEqual(
      seen.map(([, o]) => o),
      ["formerr", "formerr", "formerr", "refused", "formerr"],
    );
  });

  void it("keys the cache on the whole question: a hash collision is a miss, not a wrong answer", () => {
    const zone = new Zone();
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    const random = prng(1);
    for (let i = 0; !pair && i < 1_000_000; i++) {
      const name = `${Math.floor(random() * 2 ** 40).toString(36)}.weave.local.`;
      const q = encodeQuery(name, 1);
      const h = questionHash(q, q.length);
      const other = seen.get(h);
      if (other !== undefined && other !== name) pair = [other, name];
      seen.set(h, name);
    }
    assert.ok(pair, "no FNV collision found");
    zone.set("a", [{ name: pair[0], ipv4: ["10.32.0.1"] }]);
    zone.set("b", [{ name: pair[1], ipv4: ["10.32.0.2"] }]);
    const responder = new Responder({ zone });
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(ips(reply(responder.respond(encodeQuery(pair[0], 1), false))), ["10.32.0.1"]);
      assert.deepEqual(ips(reply(responder.respond(encodeQuery(pair[1], 1), false))), ["10.32.0.2"]);
    }
  });
});
