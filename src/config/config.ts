/**
 * One schema for the daemon's settings: command-line flag > WEAVE_* environment variable > default.
 * Pure: argv and env are passed in. Throws WEAVE_CONFIG with the offending flag quoted.
 */
import { hostname } from "node:os";
import { WeaveError } from "../core/index.js";
import type { LogLevel } from "../core/index.js";
import { FLAGS } from "./flags.js";
import type { Config } from "./types.js";

export { FLAGS } from "./flags.js";
export type { FlagSpec } from "./flags.js";
export type { Config } from "./types.js";

/** Parses daemon flags. Accepts `--flag value` and `--flag=value`. */
export function parseConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Config {
  const raw = new Map<keyof Config, string>();
  for (const spec of FLAGS) {
    const fromEnv = env[spec.env];
    raw.set(spec.key, fromEnv ?? spec.default);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS.find((f) => f.flag === name);
    if (!spec) throw new WeaveError("WEAVE_CONFIG", `Unknown flag "${name}" (see weave launch --help)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.boolean) value = "true";
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new WeaveError("WEAVE_CONFIG", `Flag "${name}" needs a value`);
      value = next;
      i++;
    }
    raw.set(spec.key, value);
  }
  for (const spec of FLAGS) {
    const value = raw.get(spec.key) ?? "";
    if (spec.boolean && !["true", "false", "1", "0", ""].includes(value)) {
      throw new WeaveError(
        "WEAVE_CONFIG",
        `Invalid value "${value}" for ${spec.flag}: expected true or false`,
      );
    }
    const problem = spec.validate?.(value);
    if (problem)
      throw new WeaveError(
        "WEAVE_CONFIG",
        `Invalid value "${value}" for ${spec.flag} (${spec.env}): ${problem}`,
      );
  }
  const get = (k: keyof Config) => raw.get(k) ?? "";
  const mtu = get("mtu");
  if (get("store") === "" && (get("passwordFile") !== "" || (env["WEAVE_PASSWORD"] ?? "") !== "")) {
    throw new WeaveError(
      "WEAVE_CONFIG",
      "A password encrypts traffic between hosts: it needs --store (a cluster); without one there is nothing to encrypt",
    );
  }
  return {
    socket: get("socket"),
    driverName: get("driverName") || driverName(get("socket")),
    socketGroup: get("socketGroup"),
    logLevel: get("logLevel") as LogLevel,
    nameserver: get("nameserver") || undefined,
    ipallocRange: get("ipallocRange"),
    stateDir: get("stateDir"),
    runDir: get("runDir"),
    dockerSocket: get("dockerSocket"),
    mtu: mtu === "" ? undefined : Number(mtu),
    defaultNetwork: get("defaultNetwork"),
    logFile: get("logFile"),
    foreground: ["true", "1"].includes(get("foreground")),
    noDns: ["true", "1"].includes(get("noDns")),
    dnsDomain: get("dnsDomain"),
    dnsTtl: Number(get("dnsTtl")),
    dnsUpstream: get("dnsUpstream")
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== ""),
    dnsPort: Number(get("dnsPort")),
    dnsWorkers: Number(get("dnsWorkers")),
    dnsResolvConf: get("dnsResolvConf"),
    statusAddr: get("statusAddr"),
    store: get("store"),
    storeCa: get("storeCa"),
    storeCert: get("storeCert"),
    storeKey: get("storeKey"),
    advertiseAddr: get("advertiseAddr"),
    name: get("name") || defaultName(),
    vxlanPort: Number(get("vxlanPort")),
    transport: get("transport") as Config["transport"],
    passwordFile: get("passwordFile"),
    password: passwordOf(env, get("passwordFile")),
    wireguardPort: Number(get("wireguardPort")),
  };
}

/** WEAVE_PASSWORD, refused together with --password-file (which one would win is not obvious). */
function passwordOf(env: Readonly<Record<string, string | undefined>>, file: string): string | undefined {
  const password = env["WEAVE_PASSWORD"];
  if (password === undefined || password === "") return undefined;
  if (file !== "") {
    throw new WeaveError(
      "WEAVE_CONFIG",
      "Give the password once: --password-file or WEAVE_PASSWORD, not both",
    );
  }
  return password;
}

/** The flags section of `weave launch --help`. */
export function flagsHelp(): string {
  return FLAGS.map((f) => {
    const def = f.default === "" ? "" : ` (default ${f.boolean ? "false" : JSON.stringify(f.default)})`;
    return `  ${f.flag}${f.boolean ? "" : " VALUE"}\n      ${f.help}${def}\n      env: ${f.env}`;
  }).join("\n");
}

/** The hostname, cut to a valid peer name. */
function defaultName(): string {
  const h = hostname()
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63);
  return /^[A-Za-z0-9]/.test(h) ? h : `h${h}`.slice(0, 63);
}

/** The daemon's control socket in a run directory. */
export function controlSocketPath(runDir: string): string {
  return `${runDir}/weave.sock`;
}

/**
 * The driver name Docker knows weave by: the plugin socket's file name without ".sock"
 * (Docker names legacy plugins after their socket), "weave" by default.
 */
export function driverName(socket: string): string {
  const base = socket.slice(socket.lastIndexOf("/") + 1);
  return base.endsWith(".sock") ? base.slice(0, -".sock".length) : base;
}
