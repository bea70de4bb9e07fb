/**
 * UDP worker processes: extra Node processes that read the SAME UDP sockets as the DnsServer
 * (the bound handle is passed over IPC, so the kernel hands each datagram to one reader) and
 * answer from their own zone replica. The parent sends a snapshot at start, then every
 * ZoneChange in order; workers send metric counts back once per second. A worker that dies is
 * started again after a second and gets the snapshot and the sockets again.
 */
import { type ChildProcess, fork } from "node:child_process";
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

interface Slot {
  child: ChildProcess | undefined;
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
  private closing = false;
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
    },
  ) {
    this.slots = Array.from({ length: options.count }, () => ({ child: undefined, restart: undefined }));
  }

  /** Starts the workers and resolves once each has loaded the zone. Rejects with WEAVE_TIMEOUT after 15 s. */
  async start(): Promise<void> {
    this.unsubscribe = this.options.zone.subscribe((change) => this.broadcast({ type: "zone", change }));
    await Promise.all(this.slots.map((slot) => this.spawn(slot)));
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

  /** Stops every worker (SIGTERM, then SIGKILL after 2 s). */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe?.();
    await Promise.all(
      this.slots.map(async (slot) => {
        clearTimeout(slot.restart);
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private spawn(slot: Slot): Promise<void> {
    const log = this.options.logger;
    const child = fork(this.options.entry ?? WORKER_ENTRY, [], {
      execArgv: workerExecArgv(),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    slot.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new WeaveError("WEAVE_TIMEOUT", `DNS worker ${child.pid} did not start within 15 s`));
      }, 15_000);
      child.on("message", (m: FromWorker) => {
        if (m.type === "ready") {
          clearTimeout(timer);
          resolve();
        } else if (m.type === "metrics" && this.options.onQuery) {
          for (const [qtype, outcome, n] of m.counts) this.options.onQuery(qtype, outcome, n);
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
      if (this.closing || slot.child !== child) return;
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

  private sendSocket(child: ChildProcess, key: string, socket: dgram.Socket): void {
    const msg: ToWorker = { type: "udp", key };
    child.send(msg, socket, (err) => {
      if (err)
        this.options.logger.warning("Cannot share a DNS socket with a worker", {
          key,
          err: errorMessage(err),
        });
    });
  }

  private send(child: ChildProcess, msg: ToWorker): void {
    if (!child.connected) return;
    child.send(msg, (err) => {
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
