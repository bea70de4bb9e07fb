/**
 * What the iproute2 adapters (IprouteDataplane, IprouteOverlay) share: commands run through the
 * injected Exec with failures turned into WEAVE_DATAPLANE, link deletes that succeed when the link
 * is gone already, and the observe-plan-apply loop that retries once after observing again.
 */
import { errorMessage, WeaveError } from "../core/index.js";
import type { Exec, ExecResult, Logger } from "../core/index.js";

export interface IprouteOptions {
  exec: Exec;
  logger: Logger;
}

/** What iproute2 prints when the object to delete is already gone. */
const GONE = /Cannot find device|does not exist|No such/;

/** The base of the iproute2 adapters. */
export class IprouteAdapter {
  protected readonly exec: Exec;
  protected readonly logger: Logger;

  constructor(options: IprouteOptions) {
    this.exec = options.exec;
    this.logger = options.logger;
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
    const res = await this.exec("ip", ["link", "del", name], { check: false });
    if (res.code === 0 || GONE.test(res.stderr)) return;
    throw new WeaveError("WEAVE_DATAPLANE", `Cannot delete ${kind} "${name}": ${res.stderr.trim()}`);
  }

  /**
   * Observes, plans and applies; when applying fails, observes and plans once more and applies
   * that (logging `retrying` at debug level), or reports the first plan as done when nothing is
   * left to do. Returns the descriptions of the operations applied; rejects with what apply throws.
   */
  protected async converge<Observed, Op>(steps: {
    observe: () => Promise<Observed>;
    plan: (observed: Observed) => Op[];
    apply: (ops: Op[]) => Promise<string[]>;
    describe: (op: Op) => string;
    retrying: string;
  }): Promise<string[]> {
    const ops = steps.plan(await steps.observe());
    if (ops.length === 0) return [];
    try {
      return await steps.apply(ops);
    } catch (err) {
      const retry = steps.plan(await steps.observe());
      if (retry.length === 0) return ops.map(steps.describe);
      this.logger.debug(steps.retrying, { error: errorMessage(err) });
      return await steps.apply(retry);
    }
  }
}
