import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../../../src/core/index.js";
import type { Step } from "../../../src/daemon/index.js";
import { startSteps } from "../../../src/daemon/index.js";

function recorder() {
  const log: string[] = [];
  const step = (name: string, o: { failStart?: boolean; failStop?: boolean } = {}): Step => ({
    name,
    start: async () => {
      log.push(`start ${name}`);
      if (o.failStart) throw new Error(`${name} cannot start`);
    },
    stop: () => {
      log.push(`stop ${name}`);
      if (o.failStop) throw new Error(`${name} cannot stop`);
    },
  });
  return { log, step };
}

void describe("startSteps", () => {
  void it("starts in order and stops in reverse", async () => {
    const { log, step } = recorder();
    const stop = await startSteps([step("a"), step("b"), { name: "c" }, step("d")], silentLogger);
    assert.deepEqual(log, ["start a", "start b", "start d"]);
    await stop();
    assert.deepEqual(log.slice(3), ["stop d", "stop b", "stop a"]);
    await stop();
    assert.equal(log.length, 6, "a second stop stops nothing again");
  });

  void it("a step that fails to start stops the started ones in reverse and fails", async () => {
    const { log, step } = recorder();
    await assert.rejects(
      startSteps([step("a"), step("b"), step("c", { failStart: true }), step("d")], silentLogger),
      /c cannot start/,
    );
    assert.deepEqual(log, ["start a", "start b", "start c", "stop b", "stop a"]);
  });

  void it("a step that fails to stop is logged and the others still stop", async () => {
    const { log, step } = recorder();
    const lines: string[] = [];
    const logger = createLogger({ level: "warning", sink: (line) => lines.push(line) });
    const stop = await startSteps([step("a"), step("b", { failStop: true }), step("c")], logger);
    await stop();
    assert.deepEqual(log.slice(3), ["stop c", "stop b", "stop a"]);
    const warnings = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.["component"], "b");
    assert.equal(warnings[0]?.["error"], "b cannot stop");
  });
});
