/**
 * KeptBatches over a stand-in for `ip -force -batch -` (a shell script that fails, exits or hangs on
 * request and answers the sentinel as iproute2 does), and IprouteOverlay's use of a BatchRunner:
 * entry lines to the runner, device lines in processes of their own, then a reset.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger, WeaveError } from "../../../src/core/index.js";
import { IprouteOverlay, KeptBatches, OVERLAY_READS } from "../../../src/dataplane/index.js";
import type { BatchRunner, OverlayNetwork } from "../../../src/dataplane/index.js";
import { scriptedExec } from "../../helpers/scripted-exec.js";

/** Reads lines as iproute2's batch mode: "fail ..." fails the line, "exit" ends the process with 2,
 * "hang" sleeps, "link show dev X" fails as a missing device; other lines succeed silently. */
const TOOL = `#!/bin/sh
shift 3
n=0
while IFS= read -r line; do
  n=$((n + 1))
  case "$line" in
    "link show dev "*) echo "Cannot find device \\"\${line#link show dev }\\"" >&2; echo "Command failed -:$n" >&2 ;;
    fail*) echo "RTNETLINK answers: $line" >&2; echo "Command failed -:$n" >&2 ;;
    exit) echo "fatal error" >&2; exit 2 ;;
    hang) sleep 5 ;;
  esac
done
`;

void describe("KeptBatches", () => {
  let dir = "";
  let runner: KeptBatches;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "weave-batch-"));
    writeFileSync(join(dir, "tool.sh"), TOOL);
  });
  after(() => {
    runner.reset();
    rmSync(dir, { recursive: true, force: true });
  });
  const make = (timeoutMs = 5_000, maxLines = 1_000): KeptBatches =>
    (runner = new KeptBatches({ prefix: ["sh", join(dir, "tool.sh")], timeoutMs, maxLines }));

  void it("runs batch after batch in one process", async () => {
    const r = make();
    for (let i = 0; i < 5; i++) {
      const res = await r.run("ip", "neigh replace a\nneigh replace b\n");
      assert.deepEqual(res, { stdout: "", stderr: "", code: 0 });
    }
    const both = await Promise.all([r.run("ip", "x\n"), r.run("ip", "y\n"), r.run("bridge", "z\n")]);
    assert.deepEqual(
      both.map((b) => b.code),
      [0, 0, 0],
    );
    assert.equal(r.started, 2, "one process per tool");
  });

  void it("a failed line fails its batch only, with its error; the next batches get new processes", async () => {
    const r = make();
    await r.run("ip", "ok\n");
    await r.run("bridge", "ok\n");
    const res = await r.run("ip", "ok\nfail one\nok\n");
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr,
      "RTNETLINK answers: fail one\nCommand failed -:2\n",
      "numbered within the batch",
    );
    const next = await r.run("ip", "ok\n");
    assert.deepEqual(next, { stdout: "", stderr: "", code: 0 }, "the earlier error is not repeated");
    await r.run("bridge", "ok\n");
    assert.equal(r.started, 4, "both tools' processes were dropped (a device may have changed)");
  });

  void it("a process that exits fails its batch; a process that hangs times out", async () => {
    const r = make(300);
    const res = await r.run("bridge", "ok\nexit\nok\n");
    assert.equal(res.code, 2);
    assert.match(res.stderr, /fatal error/);
    await assert.rejects(r.run("bridge", "hang\n"), (err: unknown) => {
      assert.ok(err instanceof WeaveError);
      assert.equal(err.code, "WEAVE_TIMEOUT");
      return true;
    });
    assert.equal((await r.run("bridge", "ok\n")).code, 0);
    assert.equal(r.started, 3);
  });

  void it("a process is replaced once it has run maxLines lines (iproute2 grows with each line)", async () => {
    const r = make(5_000, 6);
    // Each batch is 2 lines + the sentinel: the process ends after its second batch.
    for (let i = 0; i < 6; i++) assert.equal((await r.run("ip", "a\nb\n")).code, 0);
    assert.equal(r.started, 3);
  });

  void it("reset starts new processes; comment and continuation characters are refused", async () => {
    const r = make();
    await r.run("ip", "ok\n");
    r.reset();
    await r.run("ip", "ok\n");
    assert.equal(r.started, 2);
    await assert.rejects(r.run("ip", "neigh # x\n"), /may not hold/);
    await assert.rejects(r.run("ip", "neigh \\\n"), /may not hold/);
  });
});

/** A BatchRunner that records what it runs, failing the lines that match `fail`. */
function recordingRunner(fail?: RegExp): BatchRunner & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    run: (tool, input) => {
      log.push(`${tool} <<< ${input.trim()}`);
      const bad = fail !== undefined && fail.test(input);
      return Promise.resolve({
        stdout: "",
        stderr: bad ? "RTNETLINK answers: No such device" : "",
        code: bad ? 1 : 0,
      });
    },
    reset: () => void log.push("reset"),
  };
}

function network(ids: readonly number[]): OverlayNetwork {
  return {
    spec: { name: "vxw4096", vni: 4096, port: 4789, local: "192.168.1.1", mtu: 1350, bridge: "weave-a" },
    floodPeers: ["192.168.1.2"],
    endpoints: ids.map((i) => ({ mac: `02:42:0a:20:00:0${i}`, ipv4: `10.32.0.${i}`, peer: "192.168.1.2" })),
  };
}

void describe("IprouteOverlay with a BatchRunner", () => {
  void it("runs device lines through exec (then resets the runner) and entry lines through the runner", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    const batches = recordingRunner();
    const overlay = new IprouteOverlay({ exec, logger: silentLogger, batches });
    await overlay.reconcile([network([1])]);
    assert.deepEqual(
      calls.slice(OVERLAY_READS.length).map((c) => c.split(" <<< ")[0]),
      ["ip -batch -"],
    );
    assert.deepEqual(batches.log, [
      "reset",
      "bridge <<< fdb append 00:00:00:00:00:00 dev vxw4096 dst 192.168.1.2 self permanent\n" +
        "fdb replace 02:42:0a:20:00:01 dev vxw4096 dst 192.168.1.2 self permanent",
      "ip <<< neigh replace 10.32.0.1 lladdr 02:42:0a:20:00:01 dev vxw4096 nud permanent",
    ]);
    calls.length = 0;
    batches.log.length = 0;
    await overlay.reconcile([network([1, 2])], { full: false });
    assert.deepEqual(calls, [], "an endpoint more creates no process");
    assert.equal(batches.log.length, 2);
  });

  void it("a failed entry batch reads the kernel again and retries", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    let failures = 1;
    const batches = recordingRunner();
    const failing: BatchRunner = {
      run: (tool, input) =>
        failures-- > 0
          ? Promise.resolve({ stdout: "", stderr: "Error: unknown ifindex.", code: 1 })
          : batches.run(tool, input),
      reset: () => batches.reset(),
    };
    const overlay = new IprouteOverlay({ exec, logger: silentLogger, batches: failing });
    const report = await overlay.reconcile([network([1])]);
    assert.equal(report.applied.length, 4, "the device, the flood entry, the FDB and neighbour entries");
    assert.equal(calls.filter((c) => OVERLAY_READS.includes(c)).length, 6, "read, and read again");
  });
});
