import { describe } from "node:test";
import { MemoryClusterStore } from "../../../src/store/index.js";
import type { ClusterStore } from "../../../src/store/index.js";
import { clusterStoreContract } from "../../helpers/cluster-store-contract.js";

void describe("MemoryClusterStore", () => {
  const clock = { t: 0 };
  const store = new MemoryClusterStore(() => clock.t);
  clusterStoreContract(
    "memory",
    async () => store,
    async (s: ClusterStore) => {
      clock.t += 2_000;
      (s as MemoryClusterStore).expireLeases();
    },
  );
});
