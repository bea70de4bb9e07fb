/**
 * An in-memory worker process for UdpWorkerPool's unit tests: records what the pool sends, answers
 * `init` with `ready` like worker-main, and exits when killed. No process, no IPC.
 */
import { EventEmitter } from "node:events";
import type { FromWorker, SpawnWorker, ToWorker, WorkerProcess } from "./workers.js";

export class FakeWorkerProcess extends EventEmitter implements WorkerProcess {
  private static lastPid = 1000;
  readonly pid = ++FakeWorkerProcess.lastPid;
  connected = true;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** Every message sent, in order, with its serialised size in bytes (IPC sends JSON). */
  readonly sent: { message: ToWorker; bytes: number; handle: boolean }[] = [];

  send(message: ToWorker, handle: unknown, callback: (err: Error | null) => void): boolean {
    this.sent.push({
      message,
      bytes: Buffer.byteLength(JSON.stringify(message)),
      handle: handle !== undefined,
    });
    if (message.type === "init") queueMicrotask(() => this.reply({ type: "ready" }));
    queueMicrotask(() => callback(null));
    return true;
  }

  /** A message from the worker to the pool. */
  reply(message: FromWorker): void {
    this.emit("message", message);
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.signalCode = signal;
    this.connected = false;
    queueMicrotask(() => this.emit("exit", null, signal));
    return true;
  }
}

/** A SpawnWorker that makes FakeWorkerProcesses and keeps them in `started`, in order. */
export function fakeSpawner(): { spawn: SpawnWorker; started: FakeWorkerProcess[] } {
  const started: FakeWorkerProcess[] = [];
  return {
    started,
    spawn: () => {
      const child = new FakeWorkerProcess();
      started.push(child);
      return child;
    },
  };
}
