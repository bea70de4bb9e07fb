/**
 * The machine's processes, as far as the WireGuard adapter needs them: finding wireguard-go by its
 * command line (it runs as a daemon that is no child of weave) and signalling it. A port, with a
 * /proc implementation and an in-memory fake.
 */
import { readdir, readFile } from "node:fs/promises";

export interface ProcessTable {
  /** PIDs of the running processes whose command line is exactly `argv` (zombies have none). */
  find(argv: readonly string[]): Promise<number[]>;
  /** Sends `signal` to `pid`; false when there is no such process. */
  signal(pid: number, signal: NodeJS.Signals): boolean;
}

/** The ProcessTable of this machine, read from /proc (`root` for tests). Reads every /proc/PID/cmdline. */
export function procProcessTable(root = "/proc"): ProcessTable {
  return {
    async find(argv) {
      const want = argv.join("\0");
      const pids: number[] = [];
      for (const entry of await readdir(root)) {
        if (!/^\d+$/.test(entry)) continue;
        let cmdline: string;
        try {
          cmdline = await readFile(`${root}/${entry}/cmdline`, "utf8");
        } catch {
          continue; // ended meanwhile
        }
        if (cmdline.replace(/\0$/, "") === want) pids.push(Number(entry));
      }
      return pids;
    },
    signal(pid, signal) {
      try {
        process.kill(pid, signal);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
        throw err;
      }
    },
  };
}

/** An in-memory ProcessTable: processes are added by hand and end on SIGTERM/SIGKILL unless stubborn. */
export class FakeProcessTable implements ProcessTable {
  readonly processes = new Map<number, { argv: string[]; stubborn?: boolean }>();
  readonly signals: string[] = [];
  private nextPid = 1000;

  /** Adds a process running `argv`; returns its PID. */
  start(argv: readonly string[], options: { stubborn?: boolean } = {}): number {
    const pid = this.nextPid++;
    this.processes.set(pid, { argv: [...argv], ...options });
    return pid;
  }

  async find(argv: readonly string[]): Promise<number[]> {
    const want = argv.join("\0");
    return [...this.processes].filter(([, p]) => p.argv.join("\0") === want).map(([pid]) => pid);
  }

  signal(pid: number, signal: NodeJS.Signals): boolean {
    const p = this.processes.get(pid);
    if (!p) return false;
    this.signals.push(`${signal} ${pid}`);
    if (signal === "SIGKILL" || (signal === "SIGTERM" && !p.stubborn)) this.processes.delete(pid);
    return true;
  }
}
