import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  addressFromReverseName,
  decodeMessage,
  encodeQuery,
  encodeResponse,
  errorResponse,
  Flag,
  formatIp,
  newQueryScan,
  parseIpv4,
  parseIpv6,
  Rcode,
  readName,
  type ResourceRecord,
  scanQuery,
  truncateResponse,
} from "../../../src/dns/index.js";

/** The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa.` or the 32-nibble `ip6.arpa.` name. */
function reverseName(ip: string): string | undefined {
  const v4 = parseIpv4(ip);
  if (v4) return `${v4[3]}.${v4[2]}.${v4[1]}.${v4[0]}.in-addr.arpa.`;
  const v6 = parseIpv6(ip);
  if (!v6) return undefined;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = v6[i] ?? 0;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join(".")}.ip6.arpa.`;
}

/** `q` with one more additional record (raw octets). */
function withRecord(q: Buffer, record: number[]): Buffer {
  const out = Buffer.concat([q, Buffer.from(record)]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

const scan = (b: Buffer): ReturnType<typeof newQueryScan> => scanQuery(b, newQueryScan());

void describe("scanQuery", () => {
  void it("accepts a query and reads its question and EDNS0 OPT", () => {
    const q = encodeQuery("Db.Weave.Local.", 28, { id: 7, ednsUdpSize: 1232 });
    const s = scan(q);
    assert.equal(s.status, "ok");
    assert.equal(s.qtype, 28);
    assert.equal(s.qclass, 1);
    assert.equal(s.nameEnd, 12 + 16);
    assert.equal(s.questionEnd, 12 + 16 + 4);
    assert.deepEqual([s.edns, s.ednsUdpSize, s.ednsVersion], [true, 1232, 0]);
    assert.equal(scan(encodeQuery("a.", 1)).edns, false);
  });

  void it("drops non-queries and flags unsupported opcodes", () => {
    assert.equal(scan(Buffer.alloc(11)).status, "drop");
    const response = encodeQuery("a.", 1);
    response[2] = (response[2] as number) | 0x80;
    assert.equal(scan(response).status, "drop");
    const status = encodeQuery("a.", 1);
    status[2] = 2 << 3;
    assert.equal(scan(status).status, "notimp");
  });

  void it("returns formerr for malformed questions and records", () => {
    const cases: [string, (q: Buffer) => Buffer][] = [
      ["qdcount 0", (q) => (q.writeUInt16BE(0, 4), q)],
      ["qdcount 2", (q) => (q.writeUInt16BE(2, 4), q)],
      ["answers in a query", (q) => (q.writeUInt16BE(1, 6), q)],
      ["pointer in the question", (q) => (q.writeUInt16BE(0xc00c, 12), q)],
      ["reserved label type", (q) => ((q[12] = 0x41), q)],
      ["name runs past the end", (q) => q.subarray(0, 15)],
      ["no type/class", (q) => q.subarray(0, q.length - 13)],
      ["arcount beyond the data", (q) => (q.writeUInt16BE(2, 10), q)],
      ["OPT question", () => encodeQuery("a.", 41)],
      [
        "OPT with a name",
        () => withRecord(encodeQuery("a.", 1), [1, 0x61, 0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]),
      ],
      ["two OPT records", (q) => (q.writeUInt16BE(2, 10), Buffer.concat([q, q.subarray(q.length - 11)]))],
      ["OPT in authority", (q) => (q.writeUInt16BE(1, 8), q.writeUInt16BE(0, 10), q)],
    ];
    for (const [what, mutate] of cases) {
      assert.equal(
        scan(mutate(encodeQuery("db.weave.local.", 1, { ednsUdpSize: 4096 }))).status,
        "formerr",
        what,
      );
    }
  });

  void it("ignores trailing octets and skips other additional records (compressed names too)", () => {
    assert.equal(scan(Buffer.concat([encodeQuery("a.", 1), Buffer.alloc(20, 0xff)])).status, "ok");
    const txt = withRecord(encodeQuery("a.", 1), [0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0x41]);
    assert.equal(scan(txt).status, "ok");
  });
});

void describe("readName and name escapes", () => {
  void it("escapes dots, backslashes and binary octets so distinct names stay distinct", () => {
    const wire = Buffer.from([...Buffer.alloc(12), 3, 0x61, 0x2e, 0x62, 2, 0x5c, 0x00, 1, 0x41, 0]);
    assert.equal(readName(wire, 12)?.name, "a\\.b.\\\\\\000.A.");
    const q = encodeQuery("a\\.b.\\\\\\000.A.", 1);
    assert.deepEqual(q.subarray(12, q.length - 4), wire.subarray(12));
  });

  void it("round-trips random names through encodeQuery → scanQuery/readName (property)", () => {
    const label = fc.uint8Array({ minLength: 1, maxLength: 63 });
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 8 }), (labels) => {
        const octets = labels.reduce((n, l) => n + l.length + 1, 1);
        fc.pre(octets <= 255);
        const wire = Buffer.concat([
          Buffer.alloc(12),
          ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), l])),
          Buffer.from([0]),
        ]);
        const name = readName(wire, 12)?.name;
        assert.ok(name !== undefined);
        const q = encodeQuery(name, 1);
        assert.equal(scan(q).status, "ok");
        assert.deepEqual(q.subarray(12, q.length - 4), wire.subarray(12));
      }),
      { numRuns: 300 },
    );
  });
});

void describe("encodeResponse", () => {
  const answers = (n: number): ResourceRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      type: "A",
      name: "Big.weave.local.",
      ttl: 1,
      address: `10.40.0.${i + 1}`,
    }));
  const question = { name: "Big.weave.local.", type: 1, class: 1 };
  const soa: ResourceRecord = {
    type: "SOA",
    name: "weave.local.",
    ttl: 1,
    mname: "weave.local.",
    rname: "hostmaster.weave.local.",
    serial: 5,
    refresh: 1,
    retry: 2,
    expire: 3,
    minimum: 1,
  };

  void it("compresses owner names to a pointer at the question (60 A records in 993 octets)", () => {
    const enc = encodeResponse({ id: 1, flags: Flag.QR | Flag.AA, question, answers: answers(60) });
    assert.equal(enc.bytes.length, 12 + 21 + 60 * 16);
    assert.equal(enc.bytes.readUInt16BE(enc.questionEnd), 0xc00c);
    const d = decodeMessage(enc.bytes);
    assert.equal(d?.answers.length, 60);
    assert.ok(d?.answers.every((a) => a.name === "Big.weave.local."));
  });

  void it("puts the rcode in the low 4 bits of the flags", () => {
    for (const rcode of Object.values(Rcode)) {
      const enc = encodeResponse({ id: 9, flags: Flag.QR | rcode, question });
      const d = decodeMessage(enc.bytes);
      assert.equal(d?.rcode, rcode);
      assert.equal(d?.flags, Flag.QR | rcode);
    }
  });

  void it("compresses SOA and PTR names and decodes back", () => {
    const enc = encodeResponse({
      id: 1,
      flags: Flag.QR | Rcode.NXDOMAIN,
      question: { name: "nope.weave.local.", type: 1, class: 1 },
      authority: [soa],
      ednsUdpSize: 4096,
    });
    const d = decodeMessage(enc.bytes);
    const auth = d?.authority[0];
    assert.equal(auth?.name, "weave.local.");
    assert.equal(auth && readName(enc.bytes, auth.rdataOffset)?.name, "weave.local.");
    assert.ok(enc.bytes.length < 12 + 22 + 12 + 2 + 16 + 20 + 11 + 10, `${enc.bytes.length} octets`);
    assert.equal(d?.additional[0]?.type, 41);
    assert.equal(d?.additional[0]?.class, 4096);
  });

  void it("leaves out what would pass 65,535 octets: whole records, authority first to go, TC set", () => {
    const many: ResourceRecord[] = Array.from({ length: 5000 }, (_, i) => ({
      type: "A",
      name: "Big.weave.local.",
      ttl: 1,
      address: `10.40.${i >> 8}.${i & 255}`,
    }));
    const big = encodeResponse({ id: 1, flags: Flag.QR, question, answers: many, authority: [soa] });
    assert.equal(big.overflowed, true);
    const d = decodeMessage(big.bytes);
    assert.ok(big.bytes.length <= 65_535 - 11, `${big.bytes.length} octets`);
    assert.equal(d?.answers.length, big.answerEnds.length);
    assert.ok(
      big.answerEnds.length > 4000 && big.answerEnds.length < many.length,
      `${big.answerEnds.length}`,
    );
    assert.equal(big.answerEnds.at(-1), big.bytes.length);
    assert.equal(d?.authority.length, 0);
    assert.ok(((d?.flags ?? 0) & Flag.TC) !== 0);

    // Every answer fits, the authority record no longer does.
    const fitting = many.slice(0, big.answerEnds.length);
    const full = encodeResponse({ id: 1, flags: Flag.QR, question, answers: fitting, authority: [soa] });
    assert.equal(full.overflowed, true);
    assert.equal(full.answerEnds.length, fitting.length);
    assert.equal(decodeMessage(full.bytes)?.authority.length, 0);

    const fits = encodeResponse({ id: 1, flags: Flag.QR, question, answers: answers(60), authority: [soa] });
    assert.equal(fits.overflowed, false);
    assert.equal(decodeMessage(fits.bytes)?.authority.length, 1);
    assert.equal(((decodeMessage(fits.bytes)?.flags ?? 0) & Flag.TC) !== 0, false);
  });

  void it("truncates to whole records, sets TC, drops authority and keeps OPT", () => {
    const enc = encodeResponse({ id: 1, flags: Flag.QR, question, answers: answers(60), ednsUdpSize: 4096 });
    assert.equal(truncateResponse(enc, 4096), enc.bytes);
    const t = truncateResponse(enc, 512);
    assert.ok(t.length <= 512);
    const d = decodeMessage(t);
    assert.equal(d?.answers.length, Math.floor((512 - 33 - 11) / 16));
    assert.ok(((d?.flags ?? 0) & Flag.TC) !== 0);
    assert.equal(d?.additional[0]?.type, 41);
  });

  void it("builds error replies that copy ID, opcode, RD and the question", () => {
    const q = encodeQuery("x.example.", 1, { id: 4242 });
    const r = errorResponse(q, Rcode.SERVFAIL, q.length, 1232);
    const d = decodeMessage(r);
    assert.equal(d?.id, 4242);
    assert.equal(d?.rcode, Rcode.SERVFAIL);
    assert.ok(((d?.flags ?? 0) & (Flag.QR | Flag.RD)) === (Flag.QR | Flag.RD));
    assert.equal(d?.questions[0]?.name, "x.example.");
    assert.equal(d?.additional[0]?.class, 1232);
    assert.equal(decodeMessage(errorResponse(q, Rcode.FORMERR))?.questions.length, 0);
  });
});

void describe("IP helpers", () => {
  void it("round-trip addresses through reverse names (property)", () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => assert.equal(addressFromReverseName(reverseName(ip) ?? ""), ip)),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const canon = formatIp(parseIpv6(ip) ?? new Uint8Array(16));
        assert.equal(addressFromReverseName(reverseName(ip) ?? ""), canon);
        assert.deepEqual(parseIpv6(canon), parseIpv6(ip));
      }),
      { numRuns: 200 },
    );
    assert.equal(reverseName("10.32.0.1"), "1.0.32.10.in-addr.arpa.");
    assert.equal(addressFromReverseName("10.in-addr.arpa."), undefined);
    assert.equal(addressFromReverseName("1.0.32.010.in-addr.arpa."), undefined);
    assert.equal(formatIp(parseIpv6("fd00:0:0:0:0:0:0:1") ?? new Uint8Array()), "fd00::1");
    assert.equal(formatIp(parseIpv6("::ffff:10.0.0.1") ?? new Uint8Array()), "::ffff:a00:1");
  });
});
