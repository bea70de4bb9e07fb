import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger, WeaveError } from "../../../src/core/index.js";
import type { Exec, ExecResult } from "../../../src/core/index.js";
import {
  diffForwardRules,
  parseForwardListing,
  splitIptablesLine,
  syncIptablesForward,
} from "../../../src/dataplane/index.js";
import type { NetworkPolicy } from "../../../src/dataplane/index.js";

const a: NetworkPolicy = { bridge: "weave-a", subnets: ["10.32.0.0/24"], internal: false };
const i: NetworkPolicy = { bridge: "weave-i", subnets: ["10.33.0.0/24"], internal: true };

const dockerListing = `-P FORWARD DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
`;

void describe("iptables FORWARD diff", () => {
  void it("splits quoted arguments", () => {
    assert.deepEqual(
      splitIptablesLine(
        '-A FORWARD -m comment --comment "weave:weave-a" -m comment --comment "a \\"b\\" c" -j ACCEPT',
      ),
      [
        "-A",
        "FORWARD",
        "-m",
        "comment",
        "--comment",
        "weave:weave-a",
        "-m",
        "comment",
        "--comment",
        'a "b" c',
        "-j",
        "ACCEPT",
      ],
    );
  });

  void it("adds the bridged, routed-arrival and outgoing rules of each network when the policy is DROP", () => {
    const diff = diffForwardRules(parseForwardListing(dockerListing), [a, i]);
    assert.equal(diff.policyDrop, true);
    assert.equal(diff.position, 2, "inserted right after dockerd's DOCKER-USER jump");
    assert.deepEqual(diff.remove, []);
    assert.deepEqual(
      diff.add.map((r) => r.join(" ")),
      [
        "-i weave-a -o weave-a -m comment --comment weave:weave-a -j ACCEPT",
        "-s 10.32.0.0/24 -o weave-a -m comment --comment weave:weave-a -j ACCEPT",
        "-i weave-a ! -o weave-a -m comment --comment weave:weave-a -j ACCEPT",
        "-o weave-a -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment weave:weave-a -j ACCEPT",
        "-o weave-a -m conntrack --ctstate DNAT -m comment --comment weave:weave-a -j ACCEPT",
        "-i weave-i -o weave-i -m comment --comment weave:weave-i -j ACCEPT",
        "-s 10.33.0.0/24 -o weave-i -m comment --comment weave:weave-i -j ACCEPT",
        "-d 10.33.0.0/24 -i weave-i -m comment --comment weave:weave-i -j ACCEPT",
      ],
    );
  });

  void it("keeps what is there, removes stale and duplicate weave rules, never touches others", () => {
    const listing =
      dockerListing +
      `-A FORWARD -i weave-a -o weave-a -m comment --comment "weave:weave-a" -j ACCEPT
-A FORWARD -i weave-a -o weave-a -m comment --comment "weave:weave-a" -j ACCEPT
-A FORWARD -i weave-old -o weave-old -m comment --comment "weave:weave-old" -j ACCEPT
-A FORWARD -i eth0 -m comment --comment "other" -j ACCEPT
`;
    const diff = diffForwardRules(parseForwardListing(listing), [{ ...a, internal: true, subnets: [] }]);
    assert.deepEqual(diff.add, []);
    assert.deepEqual(
      diff.remove.map((r) => r.join(" ")),
      [
        "-i weave-a -o weave-a -m comment --comment weave:weave-a -j ACCEPT",
        "-i weave-old -o weave-old -m comment --comment weave:weave-old -j ACCEPT",
      ],
    );
  });

  void it("wants no rules while the policy is ACCEPT and removes old ones", () => {
    const listing = `-P FORWARD ACCEPT\n-A FORWARD -i weave-a -o weave-a -m comment --comment "weave:weave-a" -j ACCEPT\n`;
    const diff = diffForwardRules(parseForwardListing(listing), [a]);
    assert.equal(diff.policyDrop, false);
    assert.equal(diff.position, 1, "no DOCKER-USER chain: first position");
    assert.deepEqual(diff.add, []);
    assert.equal(diff.remove.length, 1);
  });
});

void describe("syncIptablesForward", () => {
  function scripted(listings: Record<string, ExecResult | "missing">): { exec: Exec; calls: string[] } {
    const calls: string[] = [];
    const exec: Exec = async (file, args) => {
      calls.push([file, ...args].join(" "));
      if (args.includes("-S")) {
        const r = listings[file];
        if (r === undefined || r === "missing") {
          const cause = Object.assign(new Error("spawn ENOENT"), { code: "ENOENT" });
          throw new WeaveError("WEAVE_DATAPLANE", `Cannot run "${file}"`, { cause });
        }
        return r;
      }
      return { stdout: "", stderr: "", code: 0 };
    };
    return { exec, calls };
  }

  void it("inserts missing rules right after the DOCKER-USER jump", async () => {
    const { exec, calls } = scripted({ iptables: { stdout: dockerListing, stderr: "", code: 0 } });
    const ran = await syncIptablesForward(exec, silentLogger, [i]);
    assert.deepEqual(calls, [
      "iptables -w 5 -S FORWARD",
      "iptables -w 5 -I FORWARD 2 -i weave-i -o weave-i -m comment --comment weave:weave-i -j ACCEPT",
      "iptables -w 5 -I FORWARD 2 -s 10.33.0.0/24 -o weave-i -m comment --comment weave:weave-i -j ACCEPT",
      "iptables -w 5 -I FORWARD 2 -d 10.33.0.0/24 -i weave-i -m comment --comment weave:weave-i -j ACCEPT",
      "ip6tables -w 5 -S FORWARD",
    ]);
    assert.equal(ran.length, 3);
  });

  void it("does nothing when iptables is absent (directly or behind nsenter)", async () => {
    const { exec, calls } = scripted({
      iptables: "missing",
      ip6tables: { stdout: "", stderr: "nsenter: failed", code: 127 },
    });
    assert.deepEqual(await syncIptablesForward(exec, silentLogger, [a]), []);
    assert.equal(calls.length, 2);
  });
});
