/**
 * Whether the cluster store answers, as every cluster component sees it: one place that logs the
 * transitions (a warning when the store becomes unreachable, an info line when it is back) and
 * that `weave status` and the metrics read. An error the store itself sent (WEAVE_STATE) proves
 * it reachable; only WEAVE_TIMEOUT (no connection, no answer) counts as unreachable.
 */
import type { Logger } from "../core/index.js";
import { errorMessage, isWeaveError, WeaveError } from "../core/index.js";

export class StoreHealth {
  reachable = false;
  lastError = "";
  /** When `reachable` last changed (ms). */
  since: number;
  private warnedFirst = false;
  private readonly listeners = new Set<(reachable: boolean) => void>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    readonly url: string,
  ) {
    this.since = now();
  }

  ok(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.since = this.now();
    this.lastError = "";
    this.logger.info("cluster store reachable", { store: this.url });
    for (const l of this.listeners) l(true);
  }

  failed(error: string): void {
    this.lastError = error;
    if (this.reachable) {
      this.reachable = false;
      this.since = this.now();
      this.logger.warning("cluster store unreachable; running on the last known state", {
        store: this.url,
        error,
      });
      for (const l of this.listeners) l(false);
    } else if (!this.warnedFirst) {
      this.logger.warning("cluster store unreachable; retrying", { store: this.url, error });
    }
    this.warnedFirst = true;
  }

  /** Called on every transition. */
  onChange(listener: (reachable: boolean) => void): void {
    this.listeners.add(listener);
  }

  /**
   * `track` for a call an operation needs: when the store is unreachable, the error says which
   * operation could not be done and why (WEAVE_TIMEOUT).
   */
  async need<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await this.track(p);
    } catch (err) {
      if (!isWeaveError(err, "WEAVE_TIMEOUT")) throw err;
      throw new WeaveError(
        "WEAVE_TIMEOUT",
        `Cannot ${what}: the cluster store (${this.url}) is unreachable: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /** Records the outcome of a store call; passes its value or error through. */
  async track<T>(p: Promise<T>): Promise<T> {
    try {
      const v = await p;
      this.ok();
      return v;
    } catch (err) {
      if (isWeaveError(err, "WEAVE_TIMEOUT")) this.failed(errorMessage(err));
      else this.ok();
      throw err;
    }
  }
}
