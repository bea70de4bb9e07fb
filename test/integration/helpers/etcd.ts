/**
 * A throwaway etcd (Debian's etcd-server) on loopback for the integration tests: its own random
 * ports and data directory, stopped by its PID.
 */
import { spawn } from "node:child_process";
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
  stop(): void;
}

/** Starts etcd and resolves once it answers (rejects after 10 s). */
export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "weave-etcd-"));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const endpoint = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${port + 1}`;
  const etcd = spawn(
    "etcd",
    [
      ...["--data-dir", join(dir, "data")],
      ...["--listen-client-urls", endpoint, "--advertise-client-urls", endpoint],
      ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
      ...["--initial-cluster", `default=${peer}`],
    ],
    { stdio: "ignore" },
  );
  const stop = () => {
    if (etcd.pid && etcd.exitCode === null) process.kill(etcd.pid, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  const probe = new EtcdStore({ endpoints: [endpoint], timeoutMs: 500 });
  for (let i = 0; i < 100; i++) {
    try {
      await probe.get("/probe");
      return { endpoint, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  stop();
  throw new Error("etcd did not start");
}
