/**
 * What the iproute2 adapters (IprouteDataplane, IprouteOverlay) share: commands run through the
 * injected Exec with failures turned into WEAVE_DATAPLANE, link deletes that succeed when the link
 * is gone already, the observe-plan-apply loop that retries once after observing again (see
 * cached-state.ts), and batches of bounded size.
 */
import { errorMessage, WeaveError } from "../core/index.js";
import type { Exec, ExecResult, Logger } from "../core/index.js";
import { BATCH_LINES, chunkOps, converge } from "./cached-state.js";
import type { ConvergeSteps } from "./cached-state.js";
import { spawnedBatches } from "./batch-runner.js";
import type { BatchRunner, BatchTool } from "./batch-runner.js";

export interface IprouteOptions {
  exec: Exec;
  logger: Logger;
  /** The most lines one `-batch` run gets (default BATCH_LINES, 5,000). */
  batchLines?: number;
  /** Where the batches of FDB and neighbour lines run (default: one process per batch through
   * `exec`; the daemon keeps one process per tool, see batch-runner.ts). */
  batches?: BatchRunner;
}

/** What iproute2 prints when the object to delete is already gone. */
const GONE = /Cannot find device|does not exist|No such/;

/** The base of the iproute2 adapters. */
export class IprouteAdapter {
  protected readonly exec: Exec;
  protected readonly logger: Logger;
  protected readonly batchLines: number;
  protected readonly batches: BatchRunner;

  constructor(options: IprouteOptions) {
    this.exec = options.exec;
    this.logger = options.logger;
    this.batchLines = Math.max(1, options.batchLines ?? BATCH_LINES);
    this.batches = options.batches ?? spawnedBatches(options.exec);
  }

  /**
   * Runs `file args` (with `input` on stdin); a non-zero exit becomes WEAVE_DATAPLANE naming `what`
   * ("list links") and quoting stderr. Waits for the process (the Exec's timeout applies).
   */
  protected async run(file: string, args: string[], what: string, input?: string): Promise<ExecResult> {
    const res = await this.exec(file, args, { check: false, ...(input !== undefined ? { input } : {}) });
    if (res.code !== 0) {
      throw new WeaveError(
        "WEAVE_DATAPLANE",
        `Cannot ${what} with "${file} ${args.join(" ")}" (exit ${res.code}): ${res.stderr.trim()}`,
      );
    }
    return res;
  }

  /**
   * Deletes link `name` (`ip link del`); succeeds when it is gone already. Otherwise throws
   * WEAVE_DATAPLANE naming the link as `kind` ("bridge", "veth", "VXLAN device").
   */
  protected async deleteLink(name: string, kind: string): Promise<void> {
    this.batches.reset();
    const res = await this.exec("ip", ["link", "del", name], { check: false });
    if (res.code === 0 || GONE.test(res.stderr)) return;
    throw new WeaveError("WEAVE_DATAPLANE", `Cannot delete ${kind} "${name}": ${res.stderr.trim()}`);
  }

  /**
   * Observes (through `cache` when given, see cached-state.ts), plans and applies; when applying
   * fails, observes for real and plans once more and applies that (logging `retrying` at debug
   * level), or reports the first plan as done when nothing is left to do. Returns the descriptions
   * of the operations applied; rejects with what apply throws.
   */
  protected converge<Observed, Op>(
    steps: Omit<ConvergeSteps<Observed, Op>, "onRetry"> & { retrying: string },
  ): Promise<string[]> {
    const { retrying, ...rest } = steps;
    return converge({ ...rest, onRetry: (err) => this.logger.debug(retrying, { error: errorMessage(err) }) });
  }

  /**
   * Runs `tool -batch -` with the lines of `ops`, at most `batchLines` lines per run (a resync of
   * 100,000 entries is 20 runs, not one giant stdin), naming the first operation of each run. Lines
   * that name devices only (FDB and neighbour entries: `kept`) go to the BatchRunner; lines that
   * create, change or delete devices run in a process of their own, after which the runner's kept
   * processes are reset (they cache device indexes).
   */
  protected async runBatches<Op>(
    tool: BatchTool,
    ops: readonly Op[],
    render: (op: Op) => string[],
    describe: (op: Op) => string,
    kept = false,
  ): Promise<void> {
    if (!kept) this.batches.reset();
    for (const chunk of chunkOps(ops, render, this.batchLines)) {
      const first = chunk[0] as Op;
      const what = chunk.length === 1 ? describe(first) : `${describe(first)} (+${chunk.length - 1})`;
      const input = chunk.flatMap(render).join("\n") + "\n";
      if (!kept) {
        await this.run(tool, ["-batch", "-"], what, input);
        continue;
      }
      const res = await this.batches.run(tool, input);
      if (res.code !== 0) {
        throw new WeaveError(
          "WEAVE_DATAPLANE",
          `Cannot ${what} with "${tool} -batch -" (exit ${res.code}): ${res.stderr.trim()}`,
        );
      }
    }
  }
}
