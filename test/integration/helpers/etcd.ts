/**
 * A throwaway etcd (Debian's etcd-server) on loopback for the integration tests: its own random
 * ports and data directory, stopped by its PID. It can be killed and started again on the same ports
 * and data directory (keys and leases persist), as an etcd restart.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdStore } from "../../../src/store/index.js";
import { which } from "./netns.js";

/** Why the etcd tests cannot run here (undefined when they can); under CI=true, a throw. */
export function etcdMissing(): string | undefined {
  const missing = which("etcd") ? undefined : "etcd (etcd-server) is not installed";
  if (missing && process.env["CI"] === "true")
    throw new Error(`${missing} (CI=true: a skipped test is a failure)`);
  return missing;
}

export interface TestEtcd {
  endpoint: string;
  /** Kills etcd (if running) and removes its data directory. */
  stop(): void;
  /** Stops etcd (SIGTERM) and resolves once it has exited; the data directory stays. */
  kill(): Promise<void>;
  /** Starts etcd again on the same ports and data directory; resolves once it answers (10 s). */
  start(): Promise<void>;
}

/** Starts etcd and resolves once it answers (rejects after 10 s). */
export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "weave-etcd-"));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const endpoint = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${port + 1}`;
  const args = [
    ...["--data-dir", join(dir, "data")],
    ...["--listen-client-urls", endpoint, "--advertise-client-urls", endpoint],
    ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
    ...["--initial-cluster", `default=${peer}`],
  ];
  let etcd: ChildProcess | undefined;
  const running = (p: ChildProcess | undefined): p is ChildProcess =>
    p?.pid !== undefined && p.exitCode === null && p.signalCode === null;
  const kill = async () => {
    const p = etcd;
    if (!running(p) || p.pid === undefined) return;
    const exited = once(p, "exit");
    process.kill(p.pid, "SIGTERM");
    await exited;
  };
  const stop = () => {
    if (running(etcd) && etcd.pid !== undefined) process.kill(etcd.pid, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  const start = async () => {
    if (running(etcd)) throw new Error("etcd is already running");
    etcd = spawn("etcd", args, { stdio: "ignore" });
    const probe = new EtcdStore({ endpoints: [endpoint], timeoutMs: 500 });
    for (let i = 0; i < 100; i++) {
      try {
        await probe.get("/probe");
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error("etcd did not start");
  };
  try {
    await start();
  } catch (err) {
    stop();
    throw err;
  }
  return { endpoint, stop, kill, start };
}
