/**
 * The ClusterStore contract against a real etcd (Debian's etcd-server) that this test starts on
 * loopback with a throwaway data directory, and stops by its PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import { EtcdStore } from "../../src/store/index.js";
import { clusterStoreContract } from "../helpers/cluster-store-contract.js";
import { which } from "./helpers/netns.js";

const missing = which("etcd") ? undefined : "etcd (etcd-server) is not installed";
if (missing && process.env["CI"] === "true")
  throw new Error(`${missing} (CI=true: a skipped test is a failure)`);

void describe("EtcdStore against a real etcd", { skip: missing ?? false, timeout: 120_000 }, () => {
  let etcd: ChildProcess | undefined;
  let dir = "";
  const port = 20000 + Math.floor(Math.random() * 20000);
  const endpoint = `http://127.0.0.1:${port}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "weave-etcd-"));
    etcd = spawn(
      "etcd",
      [
        "--data-dir",
        join(dir, "data"),
        "--listen-client-urls",
        endpoint,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        `http://127.0.0.1:${port + 1}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${port + 1}`,
        "--initial-cluster",
        `default=http://127.0.0.1:${port + 1}`,
      ],
      { stdio: "ignore" },
    );
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
  });

  after(() => {
    if (etcd?.pid) process.kill(etcd.pid, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });

  // A dead first endpoint must not matter: requests fall through to the live one.
  clusterStoreContract(
    "etcd",
    async () => new EtcdStore({ endpoints: ["http://127.0.0.1:1", endpoint], timeoutMs: 2_000 }),
    async () => new Promise((r) => setTimeout(r, 3_000)),
  );
});
