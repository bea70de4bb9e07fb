import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatListenAddress, parseListenAddress } from "../../../src/core/index.js";

void describe("parseListenAddress", () => {
  void it("parses IP:PORT and [IPv6]:PORT", () => {
    assert.deepEqual(parseListenAddress("127.0.0.1:6782"), { host: "127.0.0.1", port: 6782 });
    assert.deepEqual(parseListenAddress("0.0.0.0:1"), { host: "0.0.0.0", port: 1 });
    assert.deepEqual(parseListenAddress("[::1]:65535"), { host: "::1", port: 65535 });
    assert.deepEqual(parseListenAddress("[fd00::a:1]:80"), { host: "fd00::a:1", port: 80 });
  });

  void it("rejects anything else", () => {
    for (const v of [
      "",
      "6782",
      ":6782",
      "localhost:6782",
      "127.0.0.1",
      "127.0.0.1:0",
      "127.0.0.1:65536",
      "::1:80",
      "[::1]",
      "[10.0.0.1]:80",
      "256.0.0.1:80",
      "127.0.0.1:80 ",
      "[fe80::1%eth0]:80",
    ])
      assert.equal(parseListenAddress(v), undefined, v);
  });

  void it("formats back with brackets around IPv6", () => {
    assert.equal(formatListenAddress({ host: "::1", port: 6782 }), "[::1]:6782");
    assert.equal(formatListenAddress({ host: "127.0.0.1", port: 6782 }), "127.0.0.1:6782");
  });
});
