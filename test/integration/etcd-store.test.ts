/**
 * The ClusterStore contract against a real etcd (Debian's etcd-server) that this test starts on
 * loopback with a throwaway data directory, and stops by its PID.
 */
import { after, before, describe } from "node:test";
import { EtcdStore } from "../../src/store/index.js";
import { clusterStoreContract } from "../helpers/cluster-store-contract.js";
import type { TestEtcd } from "./helpers/etcd.js";
import { etcdMissing, startEtcd } from "./helpers/etcd.js";

const missing = etcdMissing();

void describe("EtcdStore against a real etcd", { skip: missing ?? false, timeout: 120_000 }, () => {
  let etcd: TestEtcd | undefined;

  before(async () => {
    etcd = await startEtcd();
  });

  after(() => etcd?.stop());

  // A dead first endpoint must not matter: requests fall through to the live one.
  clusterStoreContract(
    "etcd",
    async () => new EtcdStore({ endpoints: ["http://127.0.0.1:1", etcd?.endpoint ?? ""], timeoutMs: 2_000 }),
    async () => new Promise((r) => setTimeout(r, 3_000)),
    (s, revision) => (s as EtcdStore).compact(revision),
  );
});
