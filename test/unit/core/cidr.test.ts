import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Address, Family, Prefix } from "../../../src/core/index.js";
import {
  isWeaveError,
  containsAddress,
  containsPrefix,
  familyWidth,
  formatAddress,
  formatPrefix,
  lastAddress,
  netmask,
  overlaps,
  parseAddress,
  parsePrefix,
  prefixSize,
  usableRange,
} from "../../../src/core/index.js";

/** Node's own (WHATWG URL) IPv6 canonical form: lowercase, no leading zeros, first longest zero run. */
function nodeCanonicalV6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

function badRequest(fn: () => unknown, message?: RegExp, label?: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(isWeaveError(err, "WEAVE_BAD_REQUEST"), `expected WEAVE_BAD_REQUEST, got ${String(err)}`);
      if (message) assert.match(err.message, message);
      return true;
    },
    label,
  );
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

const v4Value = fc.bigInt(0n, (1n << 32n) - 1n);
const v6Value = fc.bigInt(0n, (1n << 128n) - 1n);

/** A random valid prefix of the given family (base has host bits cleared). */
function prefixArb(family: Family): fc.Arbitrary<Prefix> {
  const width = familyWidth(family);
  return fc
    .tuple(family === 4 ? v4Value : v6Value, fc.integer({ min: 0, max: width }))
    .map(([v, bits]) => ({ family, base: v & netmask(family, bits), bits }));
}
const anyPrefix = fc.oneof(prefixArb(4), prefixArb(6));

/** An IPv6 address rendered in an arbitrary valid (non-canonical) text form. */
const v6Text: fc.Arbitrary<{ value: bigint; text: string }> = fc
  .tuple(
    fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
    fc.boolean(),
    fc.boolean(),
    fc.nat(7),
    fc.nat(8),
  )
  .map(([groups, pad, upper, runStart, runLenRaw]) => {
    // Zero a run of groups so that "::" compression has something to compress.
    const runLen = Math.min(runLenRaw, 8 - runStart);
    for (let i = runStart; i < runStart + runLen; i++) groups[i] = 0;
    let value = 0n;
    for (const g of groups) value = (value << 16n) | BigInt(g);
    let hex = groups.map((g) => (pad ? g.toString(16).padStart(4, "0") : g.toString(16)));
    if (upper) hex = hex.map((h) => h.toUpperCase());
    let text: string;
    if (runLen >= 1) {
      text = `${hex.slice(0, runStart).join(":")}::${hex.slice(runStart + runLen).join(":")}`;
    } else {
      text = hex.join(":");
    }
    return { value, text };
  });

void describe("cidr: addresses", () => {
  void it("IPv4 format/parse round-trips for every 32-bit value", () => {
    fc.assert(
      fc.property(v4Value, (value) => {
        const text = formatAddress({ family: 4, value });
        assert.match(text, /^\d{1,3}(\.\d{1,3}){3}$/);
        assert.deepEqual(parseAddress(text), { family: 4, value });
      }),
    );
  });

  void it("IPv4 text from fast-check's ipV4 parses and formats back to the same text", () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const a = parseAddress(text);
        assert.equal(a.family, 4);
        assert.equal(formatAddress(a), text);
      }),
    );
  });

  void it("IPv6 format/parse round-trips and the format is Node's RFC 5952 canonical form", () => {
    fc.assert(
      fc.property(v6Value, (value) => {
        const text = formatAddress({ family: 6, value });
        assert.equal(text, nodeCanonicalV6(text));
        assert.deepEqual(parseAddress(text), { family: 6, value });
      }),
    );
  });

  void it("IPv6 formats sparse values (long zero runs) canonically", () => {
    // Few non-zero groups: exercises "::" placement, ties between runs and single zero groups.
    const sparse = fc
      .array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xab), { minLength: 8, maxLength: 8 })
      .map((gs) => gs.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n));
    fc.assert(
      fc.property(sparse, (value) => {
        const text = formatAddress({ family: 6, value });
        assert.equal(text, nodeCanonicalV6(text));
        assert.equal(parseAddress(text).value, value);
      }),
    );
  });

  void it("IPv6 in any valid text form (padding, case, '::') parses to its value and formats canonically", () => {
    fc.assert(
      fc.property(v6Text, ({ value, text }) => {
        const a = parseAddress(text);
        assert.equal(a.family, 6);
        assert.equal(a.value, value, text);
        assert.equal(formatAddress(a), nodeCanonicalV6(text));
      }),
    );
  });

  void it("IPv6 text from fast-check's ipV6 (including embedded IPv4) agrees with Node", () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        assert.equal(formatAddress(parseAddress(text)), nodeCanonicalV6(text));
      }),
    );
  });

  void it("formats known IPv6 examples per RFC 5952", () => {
    const cases: [string, string][] = [
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run wins
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // on a tie, the first run wins
      ["fd00:0000:0000:0000:0000:0000:0000:0001", "fd00::1"],
      ["::ffff:10.0.0.1", "::ffff:a00:1"],
    ];
    for (const [input, want] of cases) assert.equal(formatAddress(parseAddress(input)), want, input);
  });

  void it("rejects malformed addresses with WEAVE_BAD_REQUEST quoting the input", () => {
    for (const text of [
      "",
      "10.0.0",
      "10.0.0.256",
      "010.0.0.1",
      "10.0.0.1/24",
      " 10.0.0.1",
      "abc",
      "1::2::3",
      "fd00::1::",
      "12345::",
      "1:2:3:4:5:6:7:8:9",
      "::g",
    ]) {
      badRequest(() => parseAddress(text), new RegExp(`"${escape(text)}"`), text);
    }
  });

  void it("rejects IPv6 zone IDs instead of silently dropping them", () => {
    // node:net isIP accepts "fe80::1%eth0"; an IPAM address or subnet never carries a zone.
    for (const text of ["fe80::1%eth0", "fd00::1%1"]) {
      badRequest(() => parseAddress(text), new RegExp(`"${escape(text)}"`), text);
    }
    badRequest(() => parsePrefix("fd00::%eth0/64"), undefined, "fd00::%eth0/64");
  });
});

void describe("cidr: prefixes", () => {
  void it("format/parse round-trips for random prefixes of both families", () => {
    fc.assert(
      fc.property(anyPrefix, (p) => {
        const text = formatPrefix(p);
        assert.deepEqual(parsePrefix(text, { strict: true }), p, text);
      }),
    );
  });

  void it("non-strict parsing clears host bits; strict parsing rejects them and suggests the network", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.constant<Family>(4), v4Value, fc.integer({ min: 0, max: 32 })),
          fc.tuple(fc.constant<Family>(6), v6Value, fc.integer({ min: 0, max: 128 })),
        ),
        ([family, value, bits]) => {
          const text = `${formatAddress({ family, value })}/${bits}`;
          const p = parsePrefix(text);
          const base = value & netmask(family, bits);
          assert.equal(p.base, base);
          assert.equal(p.bits, bits);
          if (base === value) {
            assert.deepEqual(parsePrefix(text, { strict: true }), p);
          } else {
            const want = formatPrefix({ family, base, bits });
            badRequest(() => parsePrefix(text, { strict: true }), new RegExp(`host bits.*"${want}"`));
          }
        },
      ),
    );
  });

  void it("strict parsing names the host-bits problem and the intended subnet", () => {
    badRequest(
      () => parsePrefix("10.32.0.1/24", { strict: true }),
      /Invalid CIDR "10\.32\.0\.1\/24": host bits are set \(did you mean "10\.32\.0\.0\/24"\?\)/,
    );
    badRequest(() => parsePrefix("fd00::1/64", { strict: true }), /did you mean "fd00::\/64"/);
  });

  void it("rejects malformed prefixes with WEAVE_BAD_REQUEST", () => {
    for (const text of [
      "10.0.0.0",
      "10.0.0.0/",
      "10.0.0.0/33",
      "10.0.0.0/-1",
      "10.0.0.0/x",
      "10.0.0.0/8/8",
      "10.0.0.0/ 8",
      "10.0.0.0/1e1",
      "10.0.0.0/0x8",
      "fd00::/129",
      "fd00::/1000",
      "/24",
      "10.0.0/24",
      "",
    ]) {
      badRequest(() => parsePrefix(text), /Invalid (CIDR|IP address)/, text);
    }
  });

  void it("a prefix contains its own base and last address, and nothing just outside", () => {
    fc.assert(
      fc.property(anyPrefix, (p) => {
        const width = BigInt(familyWidth(p.family));
        const at = (value: bigint): Address => ({ family: p.family, value });
        assert.ok(containsAddress(p, at(p.base)));
        assert.ok(containsAddress(p, at(lastAddress(p))));
        assert.equal(lastAddress(p) - p.base + 1n, prefixSize(p));
        if (p.base > 0n) assert.equal(containsAddress(p, at(p.base - 1n)), false);
        if (lastAddress(p) < (1n << width) - 1n)
          assert.equal(containsAddress(p, at(lastAddress(p) + 1n)), false);
        assert.ok(containsPrefix(p, p));
        assert.ok(overlaps(p, p));
      }),
    );
  });

  void it("overlaps is symmetric, and containment implies overlap (same family)", () => {
    const pair = fc.oneof(fc.tuple(prefixArb(4), prefixArb(4)), fc.tuple(prefixArb(6), prefixArb(6)));
    fc.assert(
      fc.property(pair, ([a, b]) => {
        assert.equal(overlaps(a, b), overlaps(b, a));
        if (containsPrefix(a, b)) {
          assert.ok(overlaps(a, b));
          assert.ok(b.bits >= a.bits);
          assert.ok(containsAddress(a, { family: b.family, value: b.base }));
          assert.ok(containsAddress(a, { family: b.family, value: lastAddress(b) }));
        }
        // Two CIDR prefixes overlap exactly when one contains the other.
        assert.equal(overlaps(a, b), containsPrefix(a, b) || containsPrefix(b, a));
      }),
    );
  });

  void it("overlap and containment agree with a brute-force check on small prefixes", () => {
    // Prefixes inside 10.0.0.0/24, lengths /24../32: enumerate addresses.
    const small = fc.tuple(fc.nat(255), fc.integer({ min: 24, max: 32 })).map(([off, bits]): Prefix => ({
      family: 4,
      base: (0x0a000000n + BigInt(off)) & netmask(4, bits),
      bits,
    }));
    fc.assert(
      fc.property(small, small, (a, b) => {
        const addrs = (p: Prefix) => {
          const out = new Set<bigint>();
          for (let v = p.base; v <= lastAddress(p); v++) out.add(v);
          return out;
        };
        const sa = addrs(a);
        const sb = addrs(b);
        const common = [...sa].some((v) => sb.has(v));
        assert.equal(overlaps(a, b), common);
        assert.equal(
          containsPrefix(a, b),
          [...sb].every((v) => sa.has(v)),
        );
      }),
    );
  });

  void it("prefixes of different families never overlap or contain each other", () => {
    fc.assert(
      fc.property(prefixArb(4), prefixArb(6), (a, b) => {
        assert.equal(overlaps(a, b), false);
        assert.equal(overlaps(b, a), false);
        assert.equal(containsPrefix(a, b), false);
        assert.equal(containsPrefix(b, a), false);
        assert.equal(containsAddress(a, { family: 6, value: b.base }), false);
      }),
    );
  });

  void it("usableRange excludes network and broadcast for IPv4 shorter than /31", () => {
    fc.assert(
      fc.property(prefixArb(4), (p) => {
        const r = usableRange(p);
        if (p.bits <= 30) {
          assert.equal(r.first, p.base + 1n);
          assert.equal(r.last, lastAddress(p) - 1n);
        } else {
          assert.equal(r.first, p.base);
          assert.equal(r.last, lastAddress(p));
        }
        assert.ok(r.first <= r.last);
      }),
    );
    assert.deepEqual(usableRange(parsePrefix("10.32.0.0/24")), { first: 0x0a200001n, last: 0x0a2000fen });
    assert.deepEqual(usableRange(parsePrefix("10.32.0.0/31")), { first: 0x0a200000n, last: 0x0a200001n });
    assert.deepEqual(usableRange(parsePrefix("10.32.0.7/32")), { first: 0x0a200007n, last: 0x0a200007n });
  });

  void it("usableRange for IPv6 skips only the subnet-router anycast address (below /127)", () => {
    fc.assert(
      fc.property(prefixArb(6), (p) => {
        const r = usableRange(p);
        assert.equal(r.first, p.bits <= 126 ? p.base + 1n : p.base);
        assert.equal(r.last, lastAddress(p));
      }),
    );
  });
});
