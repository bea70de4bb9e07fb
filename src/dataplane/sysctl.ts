/**
 * The sysctl port: reads and writes kernel parameters (procps form, `net.ipv4.neigh.default.gc_thresh3`).
 * ExecSysctl runs procps `sysctl` through the injected Exec (so tests can run it inside a scratch
 * namespace); FakeSysctl keeps values in memory and records the commands ExecSysctl would run.
 */
import { WeaveError } from "../core/index.js";
import type { Exec } from "../core/index.js";
import { CommandRecorder } from "./fake-commands.js";
import { parseSysctlOutput } from "./iproute-routed.js";

export interface SysctlPort {
  /** The values of `keys`; a key that cannot be read (absent, e.g. not in this network namespace)
   * is left out. Rejects only when `sysctl` cannot run. */
  read(keys: readonly string[]): Promise<Record<string, string>>;
  /** Writes every [key, value]; rejects with WEAVE_DATAPLANE when one cannot be written. */
  write(values: readonly (readonly [string, string])[]): Promise<void>;
}

/** The SysctlPort over procps `sysctl KEY...` and `sysctl -qw KEY=VALUE...`. */
export class ExecSysctl implements SysctlPort {
  constructor(private readonly exec: Exec) {}

  async read(keys: readonly string[]): Promise<Record<string, string>> {
    if (keys.length === 0) return {};
    // Exit 255 with the readable keys printed when some key is missing: not a failure.
    const res = await this.exec("sysctl", [...keys], { check: false });
    return parseSysctlOutput(res.stdout);
  }

  async write(values: readonly (readonly [string, string])[]): Promise<void> {
    if (values.length === 0) return;
    const args = values.map(([key, value]) => `${key}=${value}`);
    const res = await this.exec("sysctl", ["-qw", ...args], { check: false });
    if (res.code !== 0) {
      throw new WeaveError(
        "WEAVE_DATAPLANE",
        `Cannot write sysctl ${args.join(" ")} (exit ${res.code}): ${res.stderr.trim()}`,
      );
    }
  }
}

/** In-memory SysctlPort that records the commands ExecSysctl would run. */
export class FakeSysctl extends CommandRecorder implements SysctlPort {
  /** Values by key; an absent key cannot be read, nor written. */
  readonly values = new Map<string, string>();

  async read(keys: readonly string[]): Promise<Record<string, string>> {
    if (keys.length === 0) return {};
    this.run(`sysctl ${keys.join(" ")}`);
    const out: Record<string, string> = {};
    for (const key of keys) {
      const value = this.values.get(key);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }

  async write(values: readonly (readonly [string, string])[]): Promise<void> {
    if (values.length === 0) return;
    this.run(`sysctl -qw ${values.map(([key, value]) => `${key}=${value}`).join(" ")}`);
    const missing = values.find(([key]) => !this.values.has(key));
    if (missing) {
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot write sysctl ${missing[0]}: No such file or directory`);
    }
    for (const [key, value] of values) this.values.set(key, value);
  }
}
