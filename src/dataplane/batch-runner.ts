/**
 * How batches of iproute2 lines reach the kernel: `ip -batch -` / `bridge -batch -`, one process per
 * batch (spawnedBatches, over the Exec port) or one long-lived process per tool fed batch after batch
 * (KeptBatches).
 *
 * Design note: creating a process costs the daemon 5-6 ms of CPU (Node.js's spawn), more than
 * planning and writing a few FDB and neighbour lines; at 20 changes/s that was the daemon's largest
 * cost. A kept process runs `tool -force -batch -` (go on after a failed line) and is told where a
 * batch ends by a sentinel line that always fails, `link show dev wv/s<N>` (no device name holds a
 * "/"): its error, printed to the unbuffered stderr after those of the batch's own lines, ends the
 * batch, and any other "Command failed" before it fails the batch. iproute2 exits on some errors
 * (e.g. a neighbour the kernel refuses): that fails the batch too. A failed batch drops every kept
 * process (a device may have changed), and the next batch starts fresh ones. iproute2 caches device name -> index for its life, so a kept
 * process must not outlive a device it may name: callers reset() after creating or deleting
 * devices, and a device replaced behind weave's back fails the next batch ("No such device"), which
 * drops the process before the caller's retry. iproute2 also keeps about 4 kB per line it ran
 * (KEPT_LINES): a process is replaced after 1,000 lines, one spawn per a few hundred changes.
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { WeaveError } from "../core/index.js";
import type { Exec, ExecResult } from "../core/index.js";

export type BatchTool = "ip" | "bridge";

/** The port: runs batch lines through `tool -batch -`. */
export interface BatchRunner {
  /** Runs `input` (lines, each ending in "\n"); resolves code 0 when every line succeeded, else a
   * non-zero code with the errors printed. Rejects with WEAVE_TIMEOUT when the batch hangs. */
  run(tool: BatchTool, input: string): Promise<ExecResult>;
  /** Forgets the kept processes (after devices were created or deleted: see the design note). */
  reset(): void;
}

/** One `tool -batch -` process per batch, through `exec`. */
export function spawnedBatches(exec: Exec): BatchRunner {
  return {
    run: (tool, input) => exec(tool, ["-batch", "-"], { check: false, input }),
    reset: () => undefined,
  };
}

export interface KeptBatchesOptions {
  /** Prepended to the command line, e.g. ["nsenter", "--net=/run/netns/NS", "--"] (tests). */
  prefix?: readonly string[];
  /** How long one batch may take (default 10 s, as the Exec's). */
  timeoutMs?: number;
  /** A process that has run this many lines is ended after its batch (default KEPT_LINES). */
  maxLines?: number;
}

/**
 * iproute2 6.1 keeps about 4 kB per line run in batch mode (its RSS grows from 2 MB to 23 MB over
 * 5,000 `neigh replace` or `fdb replace` lines): a kept process is replaced after this many lines.
 */
export const KEPT_LINES = 1_000;

/** One long-lived `tool -force -batch -` per tool, fed batch after batch (see the design note). */
export class KeptBatches implements BatchRunner {
  private readonly kept = new Map<BatchTool, KeptProcess>();
  private readonly prefix: readonly string[];
  private readonly timeoutMs: number;
  private readonly maxLines: number;
  /** Processes started so far (tests and logs). */
  started = 0;

  constructor(options: KeptBatchesOptions = {}) {
    this.prefix = options.prefix ?? [];
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxLines = options.maxLines ?? KEPT_LINES;
  }

  async run(tool: BatchTool, input: string): Promise<ExecResult> {
    if (/[#\\]/.test(input)) {
      // iproute2 reads "#" as a comment and a trailing "\" as a continuation: lines would shift.
      throw new WeaveError("WEAVE_INTERNAL", `Batch lines for ${tool} may not hold "#" or "\\"`);
    }
    let proc = this.kept.get(tool);
    if (proc === undefined || proc.exited) {
      const [file = tool, ...args] = [...this.prefix, tool, "-force", "-batch", "-"];
      proc = new KeptProcess(file, args);
      this.started++;
      this.kept.set(tool, proc);
    }
    try {
      const res = await proc.run(input, this.timeoutMs);
      if (res.code !== 0) this.reset();
      else if (proc.lines >= this.maxLines) {
        proc.end();
        if (this.kept.get(tool) === proc) this.kept.delete(tool);
      }
      return res;
    } catch (err) {
      this.reset();
      throw err;
    }
  }

  reset(): void {
    for (const proc of this.kept.values()) proc.end();
    this.kept.clear();
  }
}

/** A batch waiting for its sentinel. */
interface Pending {
  marker: string;
  resolve: (res: ExecResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Lines written before the batch. */
  base: number;
}

const FAILED = /^Command failed .*$/m;

/** One kept process: batches run one after the other. */
class KeptProcess {
  exited = false;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly command: string;
  private stderr = "";
  private seq = 0;
  /** Lines written so far (iproute2 numbers the lines of its whole stdin). */
  lines = 0;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(file: string, args: string[]) {
    this.command = [file, ...args].join(" ");
    this.child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    // Never keeps the daemon alive; it exits at the end of its stdin when the daemon does.
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) unrefStream(s);
    this.child.stdout.resume();
    this.child.stdin.on("error", () => undefined);
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.check();
    });
    this.child.on("error", (err) => this.finish(-1, `Cannot run "${file}": ${err.message}`));
    this.child.on("close", (code) => this.finish(code ?? -1, this.stderr));
  }

  /** Runs `input` after the batches before it. */
  run(input: string, timeoutMs: number): Promise<ExecResult> {
    const next = this.queue.then(() => this.runNow(input, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the process (its stdin: it exits once the lines written are done). */
  end(): void {
    this.child.stdin.end();
  }

  private runNow(input: string, timeoutMs: number): Promise<ExecResult> {
    if (this.exited) return Promise.resolve({ stdout: "", stderr: this.stderr, code: -1 });
    return new Promise((resolve, reject) => {
      const marker = `"wv/s${++this.seq}"`;
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.child.kill("SIGKILL");
        reject(new WeaveError("WEAVE_TIMEOUT", `Command "${this.command}" timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = { marker, resolve, reject, timer, base: this.lines };
      this.stderr = "";
      const text = `${input}link show dev ${marker.slice(1, -1)}\n`;
      this.lines += lineCount(text);
      this.child.stdin.write(text);
    });
  }

  /** Ends the pending batch once the sentinel's error and its "Command failed" line are in. */
  private check(): void {
    const p = this.pending;
    if (p === undefined) return;
    const at = this.stderr.indexOf(p.marker);
    if (at < 0) return;
    const rest = this.stderr.slice(at);
    const failed = FAILED.exec(rest);
    if (failed === null || !rest.slice(failed.index).includes("\n")) return;
    // Line numbers as in the batch, not in the process's whole stdin.
    const errors = this.stderr
      .slice(0, this.stderr.lastIndexOf("\n", at) + 1)
      .replace(
        /^(Command failed -:)(\d+)$/gm,
        (_, head: string, n: string) => `${head}${Number(n) - p.base}`,
      );
    this.stderr = "";
    this.settle(p, { stdout: "", stderr: errors, code: FAILED.test(errors) ? 1 : 0 });
  }

  private finish(code: number, stderr: string): void {
    this.exited = true;
    const p = this.pending;
    if (p !== undefined) this.settle(p, { stdout: "", stderr, code: code === 0 ? -1 : code });
  }

  private settle(p: Pending, res: ExecResult): void {
    clearTimeout(p.timer);
    this.pending = undefined;
    p.resolve(res);
  }
}

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function unrefStream(s: unknown): void {
  (s as { unref?: () => void }).unref?.();
}
