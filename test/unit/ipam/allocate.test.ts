import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Prefix } from "../../../src/ipam/index.js";
import {
  carveSubnet,
  formatAddress,
  formatPrefix,
  isUsable,
  lastAddress,
  netmask,
  overlaps,
  parseAddress,
  parsePrefix,
  pickAddress,
  usableRange,
} from "../../../src/ipam/index.js";

const RANGE = parsePrefix("10.32.0.0/12");

/** Brute force: the first aligned /bits in `range` overlapping nothing in `taken`. */
function carveBrute(range: Prefix, bits: number, taken: readonly Prefix[]): Prefix | undefined {
  const step = 1n << BigInt(32 - bits);
  for (let base = range.base; base + step - 1n <= lastAddress(range); base += step) {
    const c: Prefix = { family: 4, base, bits };
    if (!taken.some((t) => overlaps(t, c))) return c;
  }
  return undefined;
}

/** A random IPv4 prefix inside 10.32.0.0/12 (or a little around it), /8../30. */
const takenArb: fc.Arbitrary<Prefix> = fc
  .tuple(fc.bigInt(0x0a000000n, 0x0a3fffffn), fc.integer({ min: 8, max: 30 }))
  .map(([v, bits]) => ({ family: 4, base: v & netmask(4, bits), bits }));
// Mostly prefixes inside the range, biased towards its start so that candidates collide.
const insideArb: fc.Arbitrary<Prefix> = fc
  .tuple(fc.bigInt(0x0a200000n, 0x0a23ffffn), fc.integer({ min: 12, max: 30 }))
  .map(([v, bits]) => ({ family: 4, base: v & netmask(4, bits), bits }));

void describe("carveSubnet", () => {
  void it("carves the first subnet of an empty range, then the next one", () => {
    const first = carveSubnet(RANGE, 24, []);
    assert.equal(first && formatPrefix(first), "10.32.0.0/24");
    const second = carveSubnet(RANGE, 24, first ? [first] : []);
    assert.equal(second && formatPrefix(second), "10.32.1.0/24");
  });

  void it("skips a hole too small for the requested length and aligns after a taken prefix", () => {
    const taken = ["10.32.0.0/25", "10.32.1.128/25", "10.32.2.0/23"].map((t) => parsePrefix(t));
    const got = carveSubnet(RANGE, 24, taken);
    assert.equal(got && formatPrefix(got), "10.32.4.0/24");
    const small = carveSubnet(RANGE, 25, taken);
    assert.equal(small && formatPrefix(small), "10.32.0.128/25");
  });

  void it("returns undefined when the range is full or the length does not fit", () => {
    assert.equal(carveSubnet(RANGE, 24, [parsePrefix("10.0.0.0/8")]), undefined);
    assert.equal(carveSubnet(RANGE, 24, [RANGE]), undefined);
    const small = parsePrefix("10.32.0.0/23");
    const a = carveSubnet(small, 24, []);
    const b = carveSubnet(small, 24, a ? [a] : []);
    assert.equal(b && formatPrefix(b), "10.32.1.0/24");
    assert.equal(
      carveSubnet(
        small,
        24,
        [a, b].filter((p): p is Prefix => p !== undefined),
      ),
      undefined,
    );
    assert.equal(carveSubnet(RANGE, 11, []), undefined, "longer than the range");
    assert.equal(carveSubnet(RANGE, 33, []), undefined, "longer than the family");
  });

  void it("ignores taken prefixes outside the range", () => {
    const got = carveSubnet(RANGE, 24, [parsePrefix("10.0.0.0/12"), parsePrefix("192.168.0.0/16")]);
    assert.equal(got && formatPrefix(got), "10.32.0.0/24");
  });

  void it("carves IPv6 subnets from a ULA /48", () => {
    const range = parsePrefix("fd12:3456:789a::/48");
    const first = carveSubnet(range, 64, []);
    assert.equal(first && formatPrefix(first), "fd12:3456:789a::/64");
    const second = carveSubnet(range, 64, first ? [first] : []);
    assert.equal(second && formatPrefix(second), "fd12:3456:789a:1::/64");
  });

  void it("property: returns the lowest aligned non-overlapping subnet inside the range, or undefined", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof({ weight: 4, arbitrary: insideArb }, { weight: 1, arbitrary: takenArb }), {
          maxLength: 25,
        }),
        fc.integer({ min: 16, max: 26 }),
        (taken, bits) => {
          const got = carveSubnet(RANGE, bits, taken);
          const want = carveBrute(RANGE, bits, taken);
          assert.deepEqual(got, want);
          if (got) {
            assert.equal(got.family, 4);
            assert.equal(got.bits, bits);
            assert.equal(got.base & ~netmask(4, bits), 0n, "aligned");
            assert.ok(got.base >= RANGE.base && lastAddress(got) <= lastAddress(RANGE), "inside the range");
            for (const t of taken) assert.equal(overlaps(t, got), false, `overlaps ${formatPrefix(t)}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  void it("property: carving repeatedly never returns an overlapping subnet", () => {
    fc.assert(
      fc.property(fc.array(insideArb, { maxLength: 10 }), fc.integer({ min: 1, max: 40 }), (initial, n) => {
        const taken = [...initial];
        for (let i = 0; i < n; i++) {
          const got = carveSubnet(RANGE, 20, taken);
          if (!got) break;
          for (const t of taken) assert.equal(overlaps(t, got), false);
          taken.push(got);
        }
      }),
      { numRuns: 50 },
    );
  });
});

void describe("pickAddress", () => {
  const pool = parsePrefix("10.32.0.0/24");

  void it("gives the lowest usable address, skipping the network address", () => {
    const got = pickAddress(pool, pool, new Set());
    assert.equal(got !== undefined && formatAddress({ family: 4, value: got }), "10.32.0.1");
    const next = pickAddress(pool, pool, new Set([0x0a200001n]));
    assert.equal(next !== undefined && formatAddress({ family: 4, value: next }), "10.32.0.2");
  });

  void it("stays inside a sub-pool but never gives the pool's broadcast", () => {
    const sub = parsePrefix("10.32.0.128/25");
    const got = pickAddress(pool, sub, new Set());
    assert.equal(got !== undefined && formatAddress({ family: 4, value: got }), "10.32.0.128");
    const taken = new Set<bigint>();
    for (let v = 0x0a200080n; v <= 0x0a2000fdn; v++) taken.add(v);
    const last = pickAddress(pool, sub, taken);
    assert.equal(last !== undefined && formatAddress({ family: 4, value: last }), "10.32.0.254");
    taken.add(0x0a2000fen);
    assert.equal(pickAddress(pool, sub, taken), undefined, "10.32.0.255 is the broadcast");
  });

  void it("returns undefined when every usable address is taken", () => {
    const p30 = parsePrefix("10.32.0.0/30");
    assert.equal(pickAddress(p30, p30, new Set([0x0a200001n, 0x0a200002n])), undefined);
    const p32 = parsePrefix("10.32.0.9/32");
    assert.equal(pickAddress(p32, p32, new Set()), 0x0a200009n);
    assert.equal(pickAddress(p32, p32, new Set([0x0a200009n])), undefined);
  });

  void it("gives IPv6 addresses after the subnet-router anycast address", () => {
    const p = parsePrefix("fd00::/64");
    const got = pickAddress(p, p, new Set());
    assert.equal(got !== undefined && formatAddress({ family: 6, value: got }), "fd00::1");
  });

  void it("property: lowest free usable address of the sub-pool, never a taken one", () => {
    // Pools /22../32 inside 10.32.0.0/16 and sub-pools inside them; taken sets of pool addresses.
    const scenario = fc
      .tuple(fc.bigInt(0x0a200000n, 0x0a20ffffn), fc.integer({ min: 22, max: 32 }), fc.nat(), fc.nat(10))
      .chain(([v, bits, seed, extra]) => {
        const pool: Prefix = { family: 4, base: v & netmask(4, bits), bits };
        const subBits = Math.min(32, bits + (extra % (33 - bits)));
        const blocks = 1n << BigInt(subBits - bits);
        const subSize = 1n << BigInt(32 - subBits);
        const sub: Prefix = { family: 4, base: pool.base + (BigInt(seed) % blocks) * subSize, bits: subBits };
        const size = Number(lastAddress(pool) - pool.base + 1n);
        return fc.tuple(
          fc.constant(pool),
          fc.constant(sub),
          fc.uniqueArray(fc.nat(size - 1), { maxLength: Math.min(size, 300) }),
        );
      });
    fc.assert(
      fc.property(scenario, ([pool, sub, offsets]) => {
        const taken = new Set(offsets.map((o) => pool.base + BigInt(o)));
        const got = pickAddress(pool, sub, taken);
        let want: bigint | undefined;
        for (let v = sub.base; v <= lastAddress(sub); v++) {
          if (isUsable(pool, v) && !taken.has(v)) {
            want = v;
            break;
          }
        }
        assert.equal(got, want);
        if (got !== undefined) {
          assert.equal(taken.has(got), false);
          const r = usableRange(pool);
          assert.ok(got >= r.first && got <= r.last);
          assert.ok(got >= sub.base && got <= lastAddress(sub));
        }
      }),
      { numRuns: 300 },
    );
  });

  void it("property: allocating until exhaustion gives distinct addresses, then undefined", () => {
    fc.assert(
      fc.property(fc.integer({ min: 24, max: 32 }), (bits) => {
        const p: Prefix = { family: 4, base: parseAddress("10.40.0.0").value, bits };
        const taken = new Set<bigint>();
        const r = usableRange(p);
        const count = Number(r.last - r.first + 1n);
        for (let i = 0; i < count; i++) {
          const got = pickAddress(p, p, taken);
          assert.ok(got !== undefined);
          assert.equal(taken.has(got), false);
          taken.add(got);
        }
        assert.equal(pickAddress(p, p, taken), undefined);
      }),
    );
  });
});
