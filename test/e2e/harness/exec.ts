/**
 * Child-process plumbing for the e2e harness: run a command with a deadline and collect its output,
 * find executables on PATH, and the harness's one error class.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Stable codes for harness failures; tests match on these, never on message text. */
export type HarnessErrorCode =
  | "WEAVE_E2E_TIMEOUT"
  | "WEAVE_E2E_COMMAND_FAILED"
  | "WEAVE_E2E_DOCKERD"
  | "WEAVE_E2E_SETUP"
  | "WEAVE_E2E_CLEANUP"
  | "WEAVE_E2E_UNAVAILABLE";

/** The harness's error class, with a stable `code`. */
export class HarnessError extends Error {
  readonly code: HarnessErrorCode;

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HarnessError";
    this.code = code;
  }
}

/** Options for {@link run} and the `Host` command helpers. */
export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. Without it stdin is empty. */
  input?: string | Buffer;
  /** Deadline in milliseconds (default 120 000); the command is killed with SIGKILL when it passes. */
  timeoutMs?: number;
  /** Extra environment variables; a value of `undefined` removes the variable. */
  env?: Record<string, string | undefined>;
  /** Throw a `WEAVE_E2E_COMMAND_FAILED` HarnessError when the exit code is not 0 (default false). */
  check?: boolean;
}

/** What a finished command produced. `code` is 128 + signal number when a signal ended it. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Quotes argv for messages, so a failure says exactly what ran. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** Environment for children: the caller's, with sbin directories on PATH (sudo may drop them). */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const path = (env.PATH ?? "/usr/bin:/bin").split(delimiter);
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (!path.includes(dir)) path.push(dir);
  }
  env.PATH = path.join(delimiter);
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs `argv` (no shell) and resolves with its output and exit code once it exits.
 * Rejects with `WEAVE_E2E_TIMEOUT` when the deadline passes (the child is SIGKILLed), with
 * `WEAVE_E2E_COMMAND_FAILED` when it cannot be spawned, or when `check` is set and it exits non-zero.
 */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined)
    return Promise.reject(new HarnessError("WEAVE_E2E_SETUP", "Cannot run an empty command"));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(cmd, args, { env: childEnv(opts.env), stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    // A command that exits without reading its stdin makes the write fail with EPIPE: not our concern.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new HarnessError("WEAVE_E2E_COMMAND_FAILED", `Cannot run ${formatArgv(argv)}: ${e.message}`, {
          cause: e,
        }),
      );
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      const result: ExecResult = {
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        code: code ?? 128 + (signal === null ? 0 : (SIGNAL_NUMBERS[signal] ?? 0)),
      };
      if (timedOut) {
        reject(
          new HarnessError(
            "WEAVE_E2E_TIMEOUT",
            `Command ${formatArgv(argv)} did not finish within ${timeoutMs} ms; stderr: ${result.stderr.trim()}`,
          ),
        );
      } else if (opts.check === true && result.code !== 0) {
        reject(
          new HarnessError(
            "WEAVE_E2E_COMMAND_FAILED",
            `Command ${formatArgv(argv)} exited with ${result.code}: ${(result.stderr || result.stdout).trim()}`,
          ),
        );
      } else {
        resolve(result);
      }
    };
    child.on("close", finish);
    // A daemon started by the command (e.g. `weave launch`) may inherit and hold our pipes open, so
    // 'close' would never come: after 'exit', give the pipes a moment to drain, then finish anyway.
    child.on("exit", (code, signal) => {
      setTimeout(() => finish(code, signal), 500).unref();
    });
  });
}

/** Runs `argv` and throws unless it exits 0; returns the result. */
export function runChecked(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run(argv, { ...opts, check: true });
}

/** Absolute path of `name` on PATH (with the sbin directories added), or undefined. Does not block long. */
export function findExecutable(name: string): string | undefined {
  for (const dir of (childEnv().PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true when `p` settles within `ms` milliseconds, false otherwise; its timer never holds the process. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([p.then(() => true), expired]).finally(() => clearTimeout(timer));
}
