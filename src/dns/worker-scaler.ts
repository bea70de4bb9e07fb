/**
 * Runs the UDP worker pool on demand: once a second it turns the count of UDP queries into a rate,
 * asks WorkerDemand (the pure policy) and starts or stops the pool, logging each transition with
 * the rate. Starting and stopping are serialised, so a stop never overtakes a start.
 */
import { errorMessage, type Logger } from "../core/index.js";
import type { WorkerDemand } from "./worker-demand.js";

/** What the scaler drives (UdpWorkerPool). */
export interface ScalablePool {
  readonly size: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class WorkerScaler {
  private timer: NodeJS.Timeout | undefined;
  private lastAt: number | undefined;
  private lastTotal = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      pool: ScalablePool;
      demand: WorkerDemand;
      /** UDP queries answered so far by this process and the workers (a growing count). */
      queries: () => number;
      logger: Logger;
      /** Milliseconds clock; default Date.now. */
      now?: (() => number) | undefined;
      /** Sampling period, ms; default 1,000. */
      intervalMs?: number | undefined;
    },
  ) {}

  /** Samples every intervalMs until close(); the timer does not keep the process alive. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Takes one sample now and acts on the decision (the timer calls it; tests call it directly). */
  tick(): void {
    const now = (this.o.now ?? Date.now)();
    const total = this.o.queries();
    const elapsed = this.lastAt === undefined ? 0 : now - this.lastAt;
    const rate = elapsed > 0 ? ((total - this.lastTotal) * 1000) / elapsed : 0;
    this.lastAt = now;
    this.lastTotal = total;
    const decision = this.o.demand.sample(now, rate);
    if (decision === "none") return;
    const { pool, logger } = this.o;
    const fields = { rate: Math.round(rate), workers: pool.size };
    if (decision === "start") {
      logger.info("Starting DNS worker processes: UDP query rate is high", fields);
      this.run("start", () => pool.start());
    } else {
      logger.info("Stopping DNS worker processes: UDP query rate has been low", fields);
      this.run("stop", () => pool.stop());
    }
  }

  /** Stops sampling and waits for a start or stop in progress. Leaves the pool as it is. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.queue;
  }

  private run(what: string, task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: unknown) => {
      this.o.logger.error(`Cannot ${what} the DNS worker processes`, { err: errorMessage(err) });
    });
  }
}
