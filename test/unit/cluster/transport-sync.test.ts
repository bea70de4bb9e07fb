/** TransportSync's loop (when it programs, retries and stops), on stepped time over FakeOverlay. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PACE, TransportSync } from "../../../src/cluster/transport-sync.js";
import type { TransportPass } from "../../../src/cluster/transports/transport.js";
import type { ViewInputs } from "../../../src/cluster/transport-view.js";
import { vxlanTransport } from "../../../src/cluster/transports/vxlan.js";
import { type Clock, FakeClock } from "../../../src/core/index.js";
import { FakeOverlay, OVERLAY_READS } from "../../../src/dataplane/index.js";
import { clusterNetwork, localNetwork } from "../../helpers/cluster.js";
import { captureLogger, probeSync } from "./kit.js";

const CID = "00000000000000c1";

const INPUTS: ViewInputs = {
  host: "a",
  networks: [localNetwork("net-a", CID)],
  cluster: [clusterNetwork(CID, 4096)],
  peers: [],
  endpoints: [],
};

function setup() {
  const clock = new FakeClock(1_000_000);
  const overlay = new FakeOverlay();
  const log = captureLogger();
  /** Fake times (from the clock's start) of every reconcile. */
  const reconciles: number[] = [];
  const reconcile = overlay.reconcile.bind(overlay);
  overlay.reconcile = (desired, options) => {
    reconciles.push(clock.now() - 1_000_000);
    return reconcile(desired, options);
  };
  const h = { clock, overlay, log, reconciles, inputs: INPUTS as ViewInputs | undefined };
  const sync = new TransportSync({
    transports: [vxlanTransport(overlay, 4789)],
    local: "192.168.1.1",
    paths: () => ({ mode: "vxlan", attached: [], underlayMtu: 1400 }),
    tunnel: () => undefined,
    logger: log.logger,
    clock,
    inputs: () => h.inputs,
  });
  return { ...h, sync, set: (i: ViewInputs | undefined) => (h.inputs = i) };
}

/** probeSync over the fixed INPUTS. */
const probe = (clock: Clock, seen: (pass: TransportPass) => void): TransportSync =>
  probeSync(clock, seen, { inputs: () => INPUTS });

void describe("TransportSync", () => {
  void it("reconciles at start, then every 10 s after the last reconcile", async () => {
    const h = setup();
    h.sync.start();
    assert.deepEqual(h.reconciles, []);
    await h.clock.advance(0);
    assert.deepEqual(h.reconciles, [0]);
    assert.ok(h.overlay.links.has("vxw4096"));
    await h.clock.advance(25_000);
    assert.deepEqual(h.reconciles, [0, 10_000, 20_000]);
    h.overlay.links.delete("vxw4096"); // removed behind weave's back
    await h.clock.advance(5_000);
    assert.ok(h.overlay.links.has("vxw4096"), "repaired by the periodic pass");
    await h.sync.close();
  });

  void it("logs once, at info, how long the start took until the first pass programmed", async () => {
    const h = setup();
    h.set(undefined);
    h.sync.start();
    await h.clock.advance(1_500); // the listing: the view is not synced yet
    h.set(INPUTS);
    h.sync.kick();
    await h.clock.advance(25_000);
    const infos = h.log.lines.filter((l) => l.msg === "transports programmed");
    assert.equal(infos.length, 1, "the first pass only");
    const [first] = infos;
    assert.equal(first?.level, "info");
    assert.ok(Number(first?.["sinceStartMs"]) >= 1_500);
    assert.ok(Number(first?.["operations"]) > 0, "the device was created");
    await h.sync.close();
  });

  void it("gathers a burst of changes into one reconcile 20 ms after the first", async () => {
    const h = setup();
    h.sync.kick();
    await h.clock.advance(10);
    h.sync.kick();
    h.sync.kick();
    await h.clock.advance(9);
    assert.deepEqual(h.reconciles, []);
    await h.clock.advance(1);
    assert.deepEqual(h.reconciles, [20]);
    await h.clock.advance(60_000);
    assert.deepEqual(h.reconciles, [20], "no periodic pass before start()");
    await h.sync.close();
  });

  void it("does nothing while the cluster view is not synced", async () => {
    const h = setup();
    h.set(undefined);
    h.sync.start();
    await h.clock.advance(30_000);
    assert.deepEqual(h.reconciles, []);
    await h.sync.close();
  });

  void it("a failed reconcile is logged as a warning, kept in lastError, and retried after a second", async () => {
    const h = setup();
    h.overlay.failNext("ip link add");
    h.sync.start();
    await h.clock.advance(0);
    assert.match(h.sync.lastError, /ip link add vxw4096.*failed \(injected\)/);
    const warned = h.log.lines.filter((l) => l.msg === "programming the transports failed; retrying");
    assert.deepEqual(
      warned.map((l) => l.level),
      ["warning"],
    );
    await h.clock.advance(999);
    assert.deepEqual(h.reconciles, [0]);
    await h.clock.advance(1);
    assert.deepEqual(h.reconciles, [0, 1_000]);
    assert.equal(h.sync.lastError, "");
    assert.ok(h.overlay.links.has("vxw4096"));
    assert.ok(h.log.messages("debug").includes("vxlan programmed"));
    assert.ok(h.sync.programmed);
    await h.clock.advance(10_000);
    assert.deepEqual(h.reconciles, [0, 1_000, 11_000], "back to the period");
    await h.sync.close();
  });

  void it("runNow reconciles at once; close stops the loop", async () => {
    const h = setup();
    h.sync.start();
    await h.clock.advance(0);
    await h.sync.runNow();
    assert.deepEqual(h.reconciles, [0, 0]);
    await h.sync.close();
    h.sync.kick();
    await h.clock.advance(60_000);
    assert.deepEqual(h.reconciles, [0, 0]);
    assert.equal(h.clock.pending, 0);
  });

  void it("only the periodic pass reads the kernel; a change behind weave's back waits for it", async () => {
    const h = setup();
    const reads = () => h.overlay.commands.filter((c) => OVERLAY_READS.includes(c)).length;
    h.sync.start();
    await h.clock.advance(0);
    assert.equal(reads(), 3, "the first pass reads");
    h.sync.kick();
    await h.clock.advance(3_000);
    h.sync.kick();
    await h.clock.advance(3_000);
    assert.deepEqual(h.reconciles, [0, 20, 3_020]);
    assert.equal(reads(), 3, "passes a change asked for read nothing");
    h.overlay.links.delete("vxw4096"); // behind weave's back
    h.sync.kick();
    await h.clock.advance(100);
    assert.ok(!h.overlay.links.has("vxw4096"), "not seen by a pass a change asked for");
    await h.clock.advance(10_000);
    assert.equal(reads(), 6, "the periodic pass reads");
    assert.ok(h.overlay.links.has("vxw4096"), "and repairs");
    await h.sync.close();
  });

  void it("passes are full at start, after a failure and at least every interval, even under constant changes", async () => {
    const clock = new FakeClock(0);
    const fulls: [number, boolean][] = [];
    let fail = false;
    const sync = probe(clock, (pass) => {
      fulls.push([clock.now(), pass.full]);
      if (fail) {
        fail = false;
        throw new Error("boom");
      }
    });
    sync.start();
    await clock.advance(0);
    for (let i = 0; i < 8; i++) {
      sync.kick(); // a change every 2 s: the periodic pass never comes
      await clock.advance(2_000);
    }
    fail = true;
    sync.kick();
    await clock.advance(20);
    await clock.advance(1_000);
    assert.deepEqual(fulls, [
      [0, true],
      [20, false],
      [2_020, false],
      [4_020, false],
      [6_020, false],
      [8_020, false],
      [10_020, true],
      [12_020, false],
      [14_020, false],
      [16_020, false],
      [17_020, true],
    ]);
    await sync.close();
  });

  void it("paces change-driven passes by PACE x the last one's duration; a slow full pass does not hold changes back", async () => {
    const fake = new FakeClock(0);
    let spent = 0; // time the passes "took": the clock reads it on top of the fake time
    const clock = { now: () => fake.now() + spent, setTimeout: fake.setTimeout.bind(fake) };
    const passes: [number, boolean][] = [];
    const sync = probe(clock, (pass) => {
      passes.push([fake.now(), pass.full]);
      spent += pass.full ? 5_000 : 100; // a full pass reads the kernel: slow
    });
    sync.start();
    await fake.advance(0);
    sync.kick();
    await fake.advance(1_000);
    assert.equal(sync.lastPassMs, 100, "the change-driven pass sets the pace, not the 5 s full one");
    sync.kick();
    await fake.advance(1_000);
    assert.deepEqual(passes, [
      [0, true],
      [20, false], // the first change waits only the 20 ms coalescing delay
      [1_000 + PACE * 100, false], // the next waits PACE x 100 ms
    ]);
    await sync.close();
  });
});
