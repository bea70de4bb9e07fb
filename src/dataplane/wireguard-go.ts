/**
 * Running Debian's userspace WireGuard, wireguard-go, through the injected Exec (so that it starts
 * in the Exec's network namespace), and `wg` with a missing program translated into what to install.
 *
 * Design note: wireguard-go is started as `setsid --fork --wait wireguard-go NAME` and left to
 * daemonize itself: it creates the tun device and its control socket (/run/wireguard/NAME.sock),
 * starts a copy of itself that holds both (stdio on /dev/null) and exits 0, or exits non-zero saying
 * why. The copy runs in its own session with init as its parent, so it survives weave being killed,
 * and a restarted weave adopts the device as it finds it. weave never holds it as a child: it finds
 * its PID by command line (`wireguard-go NAME`, unique because device names are unique on the
 * machine). Deleting the tun device makes wireguard-go exit by itself (in about 0.1 s); weave waits
 * for that and signals it only when it lingers.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage, WeaveError } from "../core/index.js";
import type { Exec, ExecOptions, ExecResult, Logger } from "../core/index.js";
import type { ProcessTable } from "./process-table.js";
import { wireguardGoArgv } from "./wireguard-planner.js";

/** What to install for WireGuard without the kernel's. */
export const WIREGUARD_INSTALL = "apt-get install wireguard-go wireguard-tools";

/** True when `err` (a rejected Exec) or `res` says the program could not be run at all (missing). */
export function missingProgram(res: ExecResult | undefined, err?: unknown): boolean {
  if (err !== undefined) return /ENOENT/.test(errorMessage(err));
  return res !== undefined && (res.code === 127 || /failed to execute/.test(res.stderr));
}

/**
 * Runs `file args` with check off; a missing program becomes WEAVE_DATAPLANE `notInstalled` (what
 * to install). Other Exec rejections (WEAVE_TIMEOUT) pass through.
 */
export async function runTool(
  exec: Exec,
  argv: readonly string[],
  notInstalled: (stderr: string, err: unknown) => string,
  options: ExecOptions = {},
): Promise<ExecResult> {
  const [file = "", ...args] = argv;
  let res: ExecResult | undefined;
  let error: unknown;
  try {
    res = await exec(file, args, { ...options, check: false });
  } catch (err) {
    error = err;
  }
  if (missingProgram(res, error)) {
    throw new WeaveError("WEAVE_DATAPLANE", notInstalled(res?.stderr ?? "", error), { cause: error });
  }
  if (error !== undefined || res === undefined) throw error;
  return res;
}

/** `wg args` through `exec` (check off); WEAVE_DATAPLANE saying what to install when wg is missing. */
export function runWg(exec: Exec, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return runTool(exec, ["wg", ...args], () => `wg is not installed: ${WIREGUARD_INSTALL}`, options);
}

/** wireguard-go's stderr without its "you have a kernel module" banner. */
const plainStderr = (text: string): string =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^[│┌└]/.test(l))
    .join("; ");

export interface WireguardGoOptions {
  exec: Exec;
  logger: Logger;
  processes: ProcessTable;
  /** How long a new device may take to answer `wg show` (ms). */
  startTimeoutMs: number;
  /** How long wireguard-go may take to exit once its device is deleted before it is signalled (ms). */
  stopTimeoutMs: number;
  /** Interval of those waits (ms). */
  pollMs: number;
}

/** Starts, finds and stops the wireguard-go of a device. */
export class WireguardGo {
  constructor(private readonly o: WireguardGoOptions) {}

  /** The PID of `name`'s wireguard-go, if it runs. */
  async pid(name: string): Promise<number | undefined> {
    return (await this.o.processes.find(["wireguard-go", name]))[0];
  }

  /**
   * Starts wireguard-go for `name` and waits until its control socket answers; returns its PID.
   * Throws WEAVE_DATAPLANE saying what failed (not installed, its own error, no answer in time).
   */
  async start(name: string): Promise<number | undefined> {
    const res = await runTool(
      this.o.exec,
      wireguardGoArgv(name),
      (stderr, err) =>
        // "setsid: failed to execute wireguard-go: ..." names wireguard-go; else setsid is missing
        /wireguard-go/.test(`${errorMessage(err ?? "")} ${stderr}`)
          ? `The kernel has no WireGuard and wireguard-go is not installed: ${WIREGUARD_INSTALL}`
          : "The kernel has no WireGuard and setsid (util-linux) is not installed: apt-get install util-linux",
      { timeoutMs: this.o.startTimeoutMs },
    );
    if (res.code !== 0) {
      throw new WeaveError(
        "WEAVE_DATAPLANE",
        `Cannot start wireguard-go for "${name}" (exit ${res.code}): ${plainStderr(res.stderr)}`,
      );
    }
    let last = "";
    const answers = async (): Promise<boolean> => {
      const probe = await runWg(this.o.exec, ["show", name, "listen-port"], {
        timeoutMs: this.o.startTimeoutMs,
      });
      last = probe.stderr.trim();
      return probe.code === 0;
    };
    if (await this.poll(this.o.startTimeoutMs, answers)) return await this.pid(name);
    throw new WeaveError(
      "WEAVE_DATAPLANE",
      `wireguard-go started for "${name}" but /run/wireguard/${name}.sock did not answer within ${this.o.startTimeoutMs} ms: ${last}`,
    );
  }

  /**
   * Waits for the wireguard-go of deleted device `name` to exit (stopTimeoutMs); signals it when it
   * lingers: SIGTERM, then SIGKILL, waiting up to a second after each, and removes its control
   * socket then. Throws WEAVE_DATAPLANE when it survives all that.
   */
  async stop(name: string): Promise<void> {
    const argv = ["wireguard-go", name];
    const gone = async (): Promise<boolean> => (await this.o.processes.find(argv)).length === 0;
    if (await this.poll(this.o.stopTimeoutMs, gone)) return;
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const pids = await this.o.processes.find(argv);
      for (const pid of pids) this.o.processes.signal(pid, signal);
      this.o.logger.warning("wireguard-go did not exit with its device", { device: name, pids, signal });
      if (await this.poll(1000, gone)) {
        // A killed wireguard-go leaves its socket behind (a new one would replace it, but tidy up).
        await this.o.exec("rm", ["-f", `/run/wireguard/${name}.sock`], { check: false });
        return;
      }
    }
    throw new WeaveError("WEAVE_DATAPLANE", `wireguard-go for "${name}" does not exit`);
  }

  /** Calls `done` every pollMs until it says true (true) or `timeoutMs` have passed (false). */
  private async poll(timeoutMs: number, done: () => Promise<boolean>): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (await done()) return true;
      if (performance.now() >= deadline) return false;
      await sleep(this.o.pollMs);
    }
  }
}
