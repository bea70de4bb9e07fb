/** The kernel's neighbour table limits: the pure decision, and NeighLimits over FakeSysctl. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createLogger } from "../../../src/core/index.js";
import {
  FakeSysctl,
  gcThreshKeys,
  NeighLimits,
  neighCounts,
  raisedNeighLimits,
} from "../../../src/dataplane/index.js";

const DEFAULTS = { thresh1: 128, thresh2: 512, thresh3: 1024 };

function setup(values: Record<string, string> = {}) {
  const sysctl = new FakeSysctl();
  for (const [k, v] of Object.entries(values)) sysctl.values.set(k, v);
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const logger = createLogger({
    level: "debug",
    sink: (l) => lines.push(JSON.parse(l) as (typeof lines)[0]),
  });
  return { sysctl, lines, limits: new NeighLimits({ sysctl, logger }) };
}

/** The kernel's defaults for both families, as sysctl values. */
function defaults(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const family of [4, 6] as const) {
    const [k1, k2, k3] = gcThreshKeys(family);
    Object.assign(out, { [k1]: "128", [k2]: "512", [k3]: "1024" });
  }
  return out;
}

void describe("raisedNeighLimits", () => {
  void it("leaves the limits alone while weave's entries take at most half of gc_thresh3", () => {
    assert.equal(raisedNeighLimits(0, DEFAULTS), undefined);
    assert.equal(raisedNeighLimits(512, DEFAULTS), undefined);
  });

  void it("raises to the next power of two of twice the need, with the kernel's ratios", () => {
    assert.deepEqual(raisedNeighLimits(513, DEFAULTS), { thresh1: 256, thresh2: 1024, thresh3: 2048 });
    assert.deepEqual(raisedNeighLimits(100_000, DEFAULTS), {
      thresh1: 32768,
      thresh2: 131072,
      thresh3: 262144,
    });
  });

  void it("never lowers what the administrator set higher", () => {
    const admin = { thresh1: 4096, thresh2: 8192, thresh3: 1024 };
    assert.deepEqual(raisedNeighLimits(600, admin), { thresh1: 4096, thresh2: 8192, thresh3: 8192 });
  });

  void it("keeps thresh1 <= thresh2 <= thresh3, raises thresh3 past twice the need, lowers nothing (property)", () => {
    const t = fc.integer({ min: 0, max: 1 << 20 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 20 }), t, t, t, (needed, thresh1, thresh2, thresh3) => {
        const current = { thresh1, thresh2, thresh3 };
        const next = raisedNeighLimits(needed, current);
        if (next === undefined) return assert.ok(needed * 2 <= thresh3);
        assert.ok(next.thresh1 <= next.thresh2 && next.thresh2 <= next.thresh3);
        assert.ok(next.thresh3 >= needed * 2);
        assert.ok(next.thresh1 >= thresh1 && next.thresh2 >= thresh2 && next.thresh3 >= thresh3);
      }),
    );
  });
});

void describe("NeighLimits", () => {
  void it("raises the family that needs it, logs why, and writes only values that change", async () => {
    const h = setup(defaults());
    await h.limits.ensure({ 4: 3000, 6: 10 }, true);
    assert.deepEqual(h.sysctl.commands, [
      `sysctl ${[...gcThreshKeys(4), ...gcThreshKeys(6)].join(" ")}`,
      "sysctl -qw net.ipv4.neigh.default.gc_thresh1=1024 net.ipv4.neigh.default.gc_thresh2=4096 net.ipv4.neigh.default.gc_thresh3=8192",
    ]);
    const info = h.lines.filter((l) => l.level === "info");
    assert.equal(info.length, 1);
    assert.equal(info[0]?.msg, "raised the kernel's neighbour table limits");
    assert.equal(info[0]?.["old"], "128/512/1024");
    assert.equal(info[0]?.["new"], "1024/4096/8192");
    assert.equal(info[0]?.["family"], "ipv4");
    assert.match(String(info[0]?.["why"]), /3000 neighbour entries/);
  });

  void it("reads the limits only the first time and on full passes", async () => {
    const h = setup(defaults());
    await h.limits.ensure({ 4: 10, 6: 10 }, false);
    await h.limits.ensure({ 4: 600, 6: 10 }, false);
    await h.limits.ensure({ 4: 700, 6: 10 }, false);
    const reads = h.sysctl.commands.filter((c) => !c.startsWith("sysctl -qw"));
    assert.equal(reads.length, 1);
    assert.equal(h.sysctl.commands.length, 2, "one read, one raise (700 fits the raised limits)");
    await h.limits.ensure({ 4: 700, 6: 10 }, true);
    assert.equal(h.sysctl.commands.length, 3, "a full pass reads again");
  });

  void it("does nothing where the limits cannot be read (another network namespace)", async () => {
    const h = setup();
    await h.limits.ensure({ 4: 100_000, 6: 100_000 }, true);
    assert.equal(h.sysctl.commands.filter((c) => c.startsWith("sysctl -qw")).length, 0);
    assert.ok(h.lines.some((l) => l.level === "debug" && /not readable/.test(l.msg)));
  });

  void it("logs a warning when a limit cannot be written and tries again at the next full pass only", async () => {
    const h = setup(defaults());
    h.sysctl.failNext("sysctl -qw");
    await h.limits.ensure({ 4: 3000, 6: 0 }, true);
    assert.deepEqual(
      h.lines.filter((l) => l.level === "warning").map((l) => l.msg),
      ["cannot raise the kernel's neighbour table limits"],
    );
    await h.limits.ensure({ 4: 3000, 6: 0 }, false);
    assert.equal(h.sysctl.values.get("net.ipv4.neigh.default.gc_thresh3"), "1024");
    await h.limits.ensure({ 4: 3000, 6: 0 }, true);
    assert.equal(h.sysctl.values.get("net.ipv4.neigh.default.gc_thresh3"), "8192");
  });

  void it("neighCounts counts one entry per endpoint address and family", () => {
    const endpoints = [{ ipv4: "10.0.0.1", ipv6: "fd00::1" }, { ipv4: "10.0.0.2" }, {}];
    assert.deepEqual(neighCounts([{ endpoints }, { endpoints: [{ ipv6: "fd00::9" }] }]), { 4: 2, 6: 2 });
  });
});
