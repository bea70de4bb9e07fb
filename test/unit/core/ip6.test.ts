import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatAddress, formatIpv6Groups, parseAddress, parseIpv6Groups } from "../../../src/core/index.js";
import { formatIp, parseIpv6 } from "../../../src/dns/index.js";

/** Node's own (WHATWG URL) IPv6 canonical form. */
function nodeCanonical(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

void describe("IPv6 text", () => {
  void it("parses into eight groups and formats them as Node does (property)", () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const groups = parseIpv6Groups(ip);
        assert.ok(groups, ip);
        assert.equal(groups.length, 8);
        assert.ok(groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff));
        const text = formatIpv6Groups(groups);
        assert.equal(text, nodeCanonical(ip));
        assert.deepEqual(parseIpv6Groups(text), groups);
      }),
      { numRuns: 300 },
    );
  });

  void it("expands :: and an IPv4 tail, and compresses the first longest zero run only", () => {
    assert.deepEqual(parseIpv6Groups("::ffff:10.0.0.1"), [0, 0, 0, 0, 0, 0xffff, 0x0a00, 1]);
    assert.deepEqual(parseIpv6Groups("fd00::1"), [0xfd00, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseIpv6Groups("::"), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(formatIpv6Groups([0, 0, 0, 0, 0, 0xffff, 0x0a00, 1]), "::ffff:a00:1");
    assert.equal(formatIpv6Groups([1, 0, 0, 2, 0, 0, 3, 4]), "1::2:0:0:3:4");
    assert.equal(formatIpv6Groups([1, 0, 2, 3, 4, 5, 6, 7]), "1:0:2:3:4:5:6:7");
    assert.equal(formatIpv6Groups([0, 0, 0, 0, 0, 0, 0, 0]), "::");
  });

  void it("refuses what is not a plain IPv6 address", () => {
    for (const text of ["fe80::1%eth0", "10.0.0.1", "fd00::g", "1:2:3:4:5:6:7:8:9", "::ffff:10.0.0", ""]) {
      assert.equal(parseIpv6Groups(text), undefined, text);
    }
  });

  void it("weaveDNS and the CIDR maths write every address alike (property)", () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        assert.equal(formatIp(parseIpv6(ip) ?? new Uint8Array(16)), formatAddress(parseAddress(ip)));
      }),
      { numRuns: 300 },
    );
  });
});
