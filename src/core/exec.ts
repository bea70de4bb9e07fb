import { spawn } from "node:child_process";
import { WeaveError } from "./errors.js";

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** When false, a non-zero exit is returned instead of thrown. */
  check?: boolean;
}

/** A function that runs a program; the port through which adapters reach child processes. */
export type Exec = (file: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

/**
 * Runs `file args...` without a shell, feeding `input` on stdin. Rejects with WEAVE_TIMEOUT after
 * `timeoutMs` (default 10 s) and, when `check` is not false, with WEAVE_DATAPLANE on a non-zero exit
 * quoting the command and its stderr.
 */
export const execFile: Exec = (file, args, options = {}) =>
  new Promise((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], signal: options.signal });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin.on("error", () => undefined);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new WeaveError("WEAVE_DATAPLANE", `Cannot run "${file}": ${err.message}`, { cause: err }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const cmd = [file, ...args].join(" ");
      if (timedOut) {
        reject(new WeaveError("WEAVE_TIMEOUT", `Command "${cmd}" timed out after ${timeoutMs} ms`));
        return;
      }
      const result = { stdout, stderr, code: code ?? -1 };
      if (options.check !== false && result.code !== 0) {
        reject(
          new WeaveError(
            "WEAVE_DATAPLANE",
            `Command "${cmd}" failed (exit ${result.code}): ${stderr.trim()}`,
          ),
        );
        return;
      }
      resolve(result);
    });
    child.stdin.end(options.input ?? "");
  });
