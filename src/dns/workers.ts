/**
 * UDP worker processes: extra Node processes that read the SAME UDP sockets as the DnsServer
 * (the bound handle is passed over IPC, so the kernel hands each datagram to one reader) and
 * answer from their own zone replica. The parent sends a snapshot at start, then every
 * ZoneChange in order (one small message per change, never the zone again); workers send metric
 * counts back once per second. A worker that dies is started again after a second and gets the
 * snapshot and the sockets again. The pool can be stopped and started again (workers on demand,
 * see worker-demand.ts); the sockets stay with the parent meanwhile.
 */
import { fork } from "node:child_process";
import type dgram from "node:dgram";
import { fileURLToPath } from "node:url";
import { errorMessage, type Logger, type LogLevel, WeaveError } from "../core/index.js";
import type { Endpoint } from "./resolv-conf.js";
import type { QueryHook, QueryOutcome } from "./responder.js";
import type { Zone, ZoneChange, ZoneSnapshot } from "./zone.js";

/** Settings a worker needs (JSON over IPC). */
export interface WorkerConfig {
  domain: string;
  ttl: number;
  maxUdpSize: number;
  cacheEntries: number;
  logLevel: LogLevel;
  upstream: { servers: string[]; resolvConf: string | undefined; timeoutMs: number; maxInFlight: number };
}

/** Parent → worker messages. A `udp` message carries the socket handle. */
export type ToWorker =
  | { type: "init"; config: WorkerConfig; snapshot: ZoneSnapshot }
  | { type: "zone"; change: ZoneChange }
  | { type: "udp"; key: string }
  | { type: "close"; key: string }
  | { type: "own"; endpoints: Endpoint[] };

/** Worker → parent messages. */
export type FromWorker = { type: "ready" } | { type: "metrics"; counts: [string, QueryOutcome, number][] };

/** The part of a forked ChildProcess the pool uses (a fake in unit tests). */
export interface WorkerProcess {
  readonly pid?: number | undefined;
  readonly connected: boolean;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  send(message: ToWorker, handle: dgram.Socket | undefined, callback: (err: Error | null) => void): boolean;
  kill(signal: NodeJS.Signals): boolean;
  on(event: "message", listener: (message: FromWorker) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "exit", listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: "exit", listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/** Starts a worker process running `entry` with Node flags `execArgv`. */
export type SpawnWorker = (entry: string, execArgv: string[]) => WorkerProcess;

const forkWorker: SpawnWorker = (entry, execArgv) =>
  fork(entry, [], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });

interface Slot {
  child: WorkerProcess | undefined;
  restart: NodeJS.Timeout | undefined;
}

const WORKER_ENTRY = fileURLToPath(new URL("./worker-main.js", import.meta.url));

/** Node flags a worker inherits: loaders yes (tsx in development), test runner and inspector no. */
function workerExecArgv(): string[] {
  return process.execArgv.filter((a) => !/^--(test|inspect|experimental-test|watch)/.test(a));
}

/** A fixed-size set of UDP worker processes. */
export class UdpWorkerPool {
  private readonly slots: Slot[];
  private readonly sockets = new Map<string, dgram.Socket>();
  private own: Endpoint[] = [];
  /** False while stopped: dead workers are not restarted. */
  private active = false;
  private closed = false;
  private answered = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly options: {
      count: number;
      zone: Zone;
      config: WorkerConfig;
      logger: Logger;
      onQuery?: QueryHook | undefined;
      /** Worker entry module; default ./worker-main.js next to this file. */
      entry?: string | undefined;
      /** Starts a worker process; default child_process.fork with an IPC channel. */
      spawn?: SpawnWorker | undefined;
    },
  ) {
    this.slots = Array.from({ length: options.count }, () => ({ child: undefined, restart: undefined }));
  }

  /** Number of worker processes when running. */
  get size(): number {
    return this.slots.length;
  }

  /** True between start() and stop()/close(). */
  get running(): boolean {
    return this.active;
  }

  /** Queries the workers have answered so far (reported once per second). */
  get queries(): number {
    return this.answered;
  }

  /**
   * Starts the workers and resolves once each has loaded the zone; nothing when running. Rejects
   * with WEAVE_TIMEOUT after 15 s, WEAVE_NOT_RUNNING after close().
   */
  async start(): Promise<void> {
    if (this.closed) throw new WeaveError("WEAVE_NOT_RUNNING", "The DNS worker pool is closed");
    if (this.active) return;
    this.active = true;
    this.unsubscribe = this.options.zone.subscribe((change) => this.broadcast({ type: "zone", change }));
    await Promise.all(this.slots.map((slot) => this.spawn(slot)));
  }

  /** Stops every worker (SIGTERM, then SIGKILL after 2 s); start() may start them again. */
  async stop(): Promise<void> {
    this.active = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await Promise.all(this.slots.map((slot) => this.stopSlot(slot)));
  }

  /** Shares a bound UDP socket (identified by `key`) with every worker. */
  addSocket(key: string, socket: dgram.Socket): void {
    this.sockets.set(key, socket);
    for (const slot of this.slots) if (slot.child?.connected) this.sendSocket(slot.child, key, socket);
  }

  /** Makes every worker close its copy of socket `key`. */
  removeSocket(key: string): void {
    this.sockets.delete(key);
    this.broadcast({ type: "close", key });
  }

  setOwnEndpoints(endpoints: readonly Endpoint[]): void {
    this.own = [...endpoints];
    this.broadcast({ type: "own", endpoints: this.own });
  }

  /** Stops every worker for good (SIGTERM, then SIGKILL after 2 s). */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  private async stopSlot(slot: Slot): Promise<void> {
    clearTimeout(slot.restart);
    const child = slot.child;
    slot.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  }

  private spawn(slot: Slot): Promise<void> {
    const log = this.options.logger;
    const child = (this.options.spawn ?? forkWorker)(this.options.entry ?? WORKER_ENTRY, workerExecArgv());
    slot.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new WeaveError("WEAVE_TIMEOUT", `DNS worker ${child.pid} did not start within 15 s`));
      }, 15_000);
      child.on("message", (m: FromWorker) => {
        if (m.type === "ready") {
          clearTimeout(timer);
          resolve();
        } else if (m.type === "metrics") {
          for (const [qtype, outcome, n] of m.counts) {
            this.answered += n;
            this.options.onQuery?.(qtype, outcome, n);
          }
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(
          new WeaveError("WEAVE_INTERNAL", `DNS worker exited during start (code ${code}, signal ${signal})`),
        );
      });
    });
    child.on("error", (err) => log.warning("DNS worker error", { err: errorMessage(err) }));
    child.on("exit", (code, signal) => {
      if (!this.active || slot.child !== child) return;
      log.error("DNS worker exited; restarting in 1 s", { pid: child.pid, code, signal });
      slot.child = undefined;
      slot.restart = setTimeout(() => {
        this.spawn(slot).catch((err: unknown) =>
          log.error("DNS worker restart failed", { err: errorMessage(err) }),
        );
      }, 1000);
    });
    const o = this.options;
    this.send(child, { type: "init", config: o.config, snapshot: o.zone.snapshot() });
    this.send(child, { type: "own", endpoints: this.own });
    for (const [key, socket] of this.sockets) this.sendSocket(child, key, socket);
    return ready;
  }

  private sendSocket(child: WorkerProcess, key: string, socket: dgram.Socket): void {
    const msg: ToWorker = { type: "udp", key };
    child.send(msg, socket, (err) => {
      if (err)
        this.options.logger.warning("Cannot share a DNS socket with a worker", {
          key,
          err: errorMessage(err),
        });
    });
  }

  private send(child: WorkerProcess, msg: ToWorker): void {
    if (!child.connected) return;
    child.send(msg, undefined, (err) => {
      if (err)
        this.options.logger.warning("Cannot message a DNS worker", {
          type: msg.type,
          err: errorMessage(err),
        });
    });
  }

  private broadcast(msg: ToWorker): void {
    for (const slot of this.slots) if (slot.child) this.send(slot.child, msg);
  }
}
