import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeMessage,
  encodeQuery,
  readName,
  Responder,
  scanQuery,
  newQueryScan,
  Zone,
} from "../../../src/dns/index.js";
import { FuzzCorpus } from "./fuzz-corpus.js";

const SEED = Number(process.env["DNS_FUZZ_SEED"] ?? 20_240_611);
const PACKETS = 120_000;

function makeZone(): Zone {
  const zone = new Zone({ random: () => 0.5 });
  zone.set("c1", [{ name: "db", ipv4: ["10.32.0.1", "10.32.0.2"], ipv6: ["fd00::1"] }]);
  zone.set("c2", [
    { name: "web", ipv4: ["10.32.0.3"] },
    { name: "x.y", ipv4: ["10.32.0.4"] },
  ]);
  zone.set("big", [{ name: "big", ipv4: Array.from({ length: 60 }, (_, i) => `10.40.0.${i + 1}`) }]);
  return zone;
}

void describe("DNS fuzzing of the pure path (parser + responder)", () => {
  void it(`survives ${PACKETS} random and mutated packets with bounded time (seed ${SEED})`, () => {
    const zone = makeZone();
    const outcomes = new Map<string, number>();
    const responder = new Responder({
      zone,
      onQuery: (_t, outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1),
    });
    const corpus = new FuzzCorpus(SEED);
    let worst = 0;
    let responses = 0;
    const t0 = performance.now();
    for (let i = 0; i < PACKETS; i++) {
      const packet = corpus.next();
      const copy = Buffer.from(packet);
      const start = performance.now();
      const res = responder.respond(packet, i % 7 === 0);
      decodeMessage(packet); // the full decoder (used on upstream replies) must be safe too
      const took = performance.now() - start;
      if (took > worst) worst = took;
      assert.deepEqual(packet, copy, "the responder must not modify the query");
      if (res instanceof Buffer) {
        responses++;
        assert.ok(res.length >= 12 && res.length <= 65_535);
        assert.ok(((res[2] as number) & 0x80) !== 0, "a reply has QR set");
        assert.equal(res.readUInt16BE(0), packet.readUInt16BE(0), "a reply copies the query ID");
        if (i % 7 !== 0) assert.ok(res.length <= 4096, "UDP replies never exceed 4096 octets");
        assert.ok(decodeMessage(res), "every reply decodes");
      }
      if (i % 20_000 === 0) zone.set("churn", [{ name: `churn${i}`, ipv4: ["10.32.9.9"] }]);
    }
    const total = performance.now() - t0;
    assert.ok(worst < 100, `worst packet took ${worst.toFixed(2)} ms`);
    assert.ok(total < 30_000, `${PACKETS} packets took ${total.toFixed(0)} ms`);
    assert.ok(responses > PACKETS / 4, `only ${responses} replies`);
    for (const o of ["answer", "nxdomain", "formerr"])
      assert.ok((outcomes.get(o) ?? 0) > 0, `no ${o} outcome seen`);
  });

  void it("rejects a 19-octet packet claiming 26,734 questions in microseconds", () => {
    const packet = Buffer.from([0, 1, 1, 0, 0x68, 0x6e, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
    assert.equal(packet.readUInt16BE(4), 26_734);
    const responder = new Responder({ zone: makeZone() });
    const n = 20_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const res = responder.respond(packet, false);
      assert.ok(res instanceof Buffer && ((res[3] as number) & 0xf) === 1, "FORMERR");
    }
    const perPacketUs = ((performance.now() - start) * 1000) / n;
    assert.ok(perPacketUs < 50, `${perPacketUs.toFixed(2)} µs per packet`);
  });

  void it("never loops on compression pointers and caps names at 255 octets", () => {
    // Self pointer, mutual pointers, and a forward pointer: all rejected.
    const self = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 12]);
    assert.equal(readName(self, 12), undefined);
    const mutual = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12]);
    assert.equal(readName(mutual, 12), undefined);
    assert.equal(readName(mutual, 14), undefined);
    // A chain of 200 backwards pointers is cut at 127 jumps.
    const chain = Buffer.alloc(12 + 1 + 2 * 200);
    chain[12] = 0;
    for (let i = 0; i < 200; i++) chain.writeUInt16BE(0xc000 | (i === 0 ? 12 : 13 + 2 * (i - 1)), 13 + 2 * i);
    assert.equal(readName(chain, 13 + 2 * 199), undefined);
    assert.equal(readName(chain, 13 + 2 * 100)?.name, ".");
    // 4 x 63-octet labels = 257 octets: too long, whether inline or assembled through pointers.
    const label = Buffer.alloc(64, 0x61);
    label[0] = 63;
    const long = Buffer.concat([Buffer.alloc(12), label, label, label, label, Buffer.from([0])]);
    assert.equal(readName(long, 12), undefined);
    const scan = scanQuery(Buffer.concat([long, Buffer.from([0, 1, 0, 1])]), newQueryScan());
    assert.equal(scan.status, "formerr");
    const ok = encodeQuery("a.b.", 1);
    assert.equal(readName(ok, 12)?.name, "a.b.");
  });
});
