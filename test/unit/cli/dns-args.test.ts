import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDnsArgs } from "../../../src/cli/dns.js";
import { isWeaveError } from "../../../src/core/index.js";

void describe("weave dns-add / dns-remove arguments", () => {
  void it("takes addresses, a container, -h and --net in any order", () => {
    assert.deepEqual(parseDnsArgs(["10.9.9.9", "-h", "ext.weave.local", "--net", "backend"]), {
      ips: ["10.9.9.9"],
      fqdn: "ext.weave.local",
      network: "backend",
    });
    assert.deepEqual(parseDnsArgs(["--network=front", "web", "fd00::1"]), {
      ips: ["fd00::1"],
      container: "web",
      network: "front",
    });
    assert.deepEqual(parseDnsArgs(["web"]), { ips: [], container: "web" });
  });

  void it("refuses --net without a name, unknown options and two containers", () => {
    for (const bad of [["--net"], ["--net="], ["-x"], ["a", "b"], ["-h"]]) {
      assert.throws(
        () => parseDnsArgs(bad),
        (e) => isWeaveError(e, "WEAVE_CONFIG"),
        bad.join(" "),
      );
    }
  });
});
