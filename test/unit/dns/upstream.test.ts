import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isWeaveError, silentLogger } from "../../../src/core/index.js";
import {
  formatEndpoint,
  parseEndpoint,
  parseResolvConf,
  Upstream,
  withoutLoops,
} from "../../../src/dns/index.js";

void describe("upstream server lists", () => {
  void it("parses resolv.conf nameservers on port 53, skipping comments and junk", () => {
    const text = [
      "# generated",
      "search example.com",
      "nameserver 192.0.2.1",
      "nameserver   2001:db8::1 ",
      "; nameserver 192.0.2.9",
      "nameserver not-an-ip",
      "nameserver fe80::1%eth0",
      "options ndots:2",
    ].join("\n");
    assert.deepEqual(parseResolvConf(text).map(formatEndpoint), [
      "192.0.2.1:53",
      "[2001:db8::1]:53",
      "[fe80::1%eth0]:53",
    ]);
  });

  void it("parses ip and ip:port endpoints and rejects anything else", () => {
    assert.deepEqual(parseEndpoint("192.0.2.1"), { address: "192.0.2.1", port: 53 });
    assert.deepEqual(parseEndpoint("127.0.53.9:5353"), { address: "127.0.53.9", port: 5353 });
    assert.deepEqual(parseEndpoint("[2001:DB8::1]:5300"), { address: "2001:db8::1", port: 5300 });
    assert.deepEqual(parseEndpoint("::1"), { address: "::1", port: 53 });
    for (const bad of ["dns.google", "1.2.3.4:0", "1.2.3.4:70000", "[::1]:x", ""]) {
      assert.throws(
        () => parseEndpoint(bad),
        (err) => isWeaveError(err, "WEAVE_CONFIG"),
        bad,
      );
    }
  });

  void it("never forwards to itself, unspecified addresses, or Docker's 127.0.0.11 from resolv.conf", () => {
    const servers = ["172.17.0.1", "127.0.0.11", "0.0.0.0", "172.17.0.1:5353", "192.0.2.1"].map((s) =>
      parseEndpoint(s),
    );
    const own = [{ address: "172.17.0.1", port: 53 }];
    assert.deepEqual(withoutLoops(servers, own, true).map(formatEndpoint), [
      "172.17.0.1:5353",
      "192.0.2.1:53",
    ]);
    assert.deepEqual(withoutLoops(servers, own, false).map(formatEndpoint), [
      "127.0.0.11:53",
      "172.17.0.1:5353",
      "192.0.2.1:53",
    ]);
  });
});

void describe("Upstream.servers", () => {
  function fake(): { files: Map<string, string>; clock: { t: number }; reads: number[]; up: Upstream } {
    const files = new Map<string, string>([["/r", "nameserver 192.0.2.1\n"]]);
    const clock = { t: 1000 };
    const reads: number[] = [];
    const up = new Upstream({
      logger: silentLogger,
      resolvConf: "/r",
      now: () => clock.t,
      readFile: async (p) => {
        reads.push(clock.t);
        const text = files.get(p);
        if (text === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
        return text;
      },
    });
    return { files, clock, reads, up };
  }

  void it("follows resolv.conf changes, reading it at most once per second", async () => {
    const { files, clock, reads, up } = fake();
    assert.deepEqual((await up.servers()).map(formatEndpoint), ["192.0.2.1:53"]);
    files.set("/r", "nameserver 192.0.2.2\nnameserver 192.0.2.3\n");
    clock.t += 500;
    assert.deepEqual((await up.servers()).map(formatEndpoint), ["192.0.2.1:53"], "not re-read within 1 s");
    clock.t += 500;
    assert.deepEqual((await up.servers()).map(formatEndpoint), ["192.0.2.2:53", "192.0.2.3:53"]);
    assert.equal(reads.length, 2);
    files.delete("/r");
    clock.t += 1000;
    assert.deepEqual(await up.servers(), [], "a missing resolv.conf means no servers");
    up.setOwnEndpoints([{ address: "192.0.2.2", port: 53 }]);
    files.set("/r", "nameserver 192.0.2.2\nnameserver 192.0.2.3\n");
    clock.t += 1000;
    assert.deepEqual((await up.servers()).map(formatEndpoint), ["192.0.2.3:53"], "own address excluded");
    await up.close();
  });

  void it("uses an explicit list instead of resolv.conf, and gives undefined when nothing is reachable", async () => {
    const up = new Upstream({
      logger: silentLogger,
      servers: ["127.0.0.1:9"],
      resolvConf: "/nonexistent",
      timeoutMs: 50,
    });
    assert.deepEqual((await up.servers()).map(formatEndpoint), ["127.0.0.1:9"]);
    up.setOwnEndpoints([{ address: "127.0.0.1", port: 9 }]);
    assert.deepEqual(await up.servers(), []);
    assert.equal(await up.forward(Buffer.alloc(30), false, 512), undefined);
    await up.close();
    assert.throws(
      () => new Upstream({ logger: silentLogger, servers: ["nope"] }),
      (err) => isWeaveError(err, "WEAVE_CONFIG"),
    );
  });
});
