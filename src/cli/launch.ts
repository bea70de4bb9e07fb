/**
 * `weave launch`: starts the daemon in the background (or in the foreground with --foreground)
 * and returns once the plugin socket answers. The background daemon is this same program run
 * with --foreground, detached, its logs appended to --log-file.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { controlSocketPath, parseConfig, type Config } from "../config/index.js";
import { WeaveError } from "../core/index.js";
import { resolveGroup, runDaemon } from "../daemon/index.js";
import type { ClusterStatus } from "../cluster/index.js";
import type { StatusView } from "../daemon/index.js";
import { socketAnswers } from "../plugin-api/index.js";
import { callDaemon } from "./control-client.js";

const LAUNCH_TIMEOUT_MS = 60_000;

export async function launch(args: readonly string[]): Promise<number> {
  const config = parseConfig(args, process.env);
  if (process.getuid?.() !== 0) {
    throw new WeaveError("WEAVE_PERMISSION", "weave launch must run as root (e.g. sudo weave launch)");
  }
  if (config.foreground) {
    await runDaemon(config);
    return 0;
  }
  resolveGroup(config.socketGroup); // a usage error belongs to this process, before any spawn
  if (await socketAnswers(controlSocketPath(config.runDir))) {
    throw new WeaveError("WEAVE_CONFLICT", "weave is already running; stop it first with: weave stop");
  }
  return startBackground(config, args);
}

async function startBackground(config: Config, args: readonly string[]): Promise<number> {
  mkdirSync(dirname(config.logFile), { recursive: true });
  const logStart = safeSize(config.logFile);
  const out = openSync(config.logFile, "a");
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, main, "launch", ...args, "--foreground"], {
    detached: true,
    stdio: ["ignore", out, out],
    env: process.env,
  });
  closeSync(out);
  const exited: { code: number | null } = { code: null };
  child.on("exit", (code) => (exited.code = code ?? 1));
  child.unref();

  const deadline = Date.now() + LAUNCH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited.code !== null) {
      throw new WeaveError(
        "WEAVE_INTERNAL",
        `weave failed to start (exit ${exited.code}):\n${lastErrors(config.logFile, logStart)}`,
      );
    }
    if ((await socketAnswers(config.socket)) && (await socketAnswers(controlSocketPath(config.runDir)))) {
      process.stdout.write(`weave ${child.pid ?? ""} is running; plugin socket ${config.socket}\n`);
      await waitForDefaultNetwork(config, deadline);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new WeaveError(
    "WEAVE_TIMEOUT",
    `weave did not answer on "${config.socket}" within ${LAUNCH_TIMEOUT_MS / 1000} s; see ${config.logFile}`,
  );
}

/**
 * Waits until the default network exists in Docker, so that `weave launch && docker run --net=weave`
 * works. When Docker is not reachable weave creates it later; say so instead of waiting.
 */
async function waitForDefaultNetwork(config: Config, deadline: number): Promise<void> {
  if (config.defaultNetwork === "") return;
  const socket = controlSocketPath(config.runDir);
  while (Date.now() < deadline) {
    const s = await callDaemon<StatusView & { cluster: ClusterStatus | null }>(
      socket,
      "GET",
      "/status",
    ).catch(() => undefined);
    if (s?.defaultNetwork.ready) return;
    if (s?.docker.status === "unreachable") {
      process.stdout.write(
        `Docker is not reachable yet (${s.docker.error}); weave creates the network "${config.defaultNetwork}" when it is\n`,
      );
      return;
    }
    // In a cluster the default network comes from the store: say why it is not there rather than wait.
    if (s?.cluster && !s.cluster.store.reachable && s.cluster.store.error !== "") {
      process.stdout.write(
        `The cluster store is not reachable yet (${s.cluster.store.error}); weave creates the network "${config.defaultNetwork}" when it is\n`,
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(`The network "${config.defaultNetwork}" is not in Docker yet; see weave status\n`);
}

function safeSize(path: string): number {
  try {
    return readFileSync(path).length;
  } catch {
    return 0;
  }
}

/** The messages of error lines the failed daemon logged. */
function lastErrors(logFile: string, from: number): string {
  let text = "";
  try {
    text = readFileSync(logFile).subarray(from).toString("utf8");
  } catch {
    return "(no log)";
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const messages = lines.map((l) => {
    try {
      const r = JSON.parse(l) as { level?: string; msg?: string; error?: string };
      return r.level === "error" ? `${r.msg ?? ""}${r.error ? `: ${r.error}` : ""}` : "";
    } catch {
      return l;
    }
  });
  return (
    messages
      .filter((m) => m !== "")
      .slice(-5)
      .join("\n") || lines.slice(-5).join("\n")
  );
}
