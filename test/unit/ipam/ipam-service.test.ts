import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { isWeaveError } from "../../../src/core/index.js";
import type { PoolRequest, Prefix } from "../../../src/ipam/index.js";
import { IpamService, LOCAL_ADDRESS_SPACE, parsePrefix } from "../../../src/ipam/index.js";
import { openSqliteState } from "../../../src/store/index.js";
import { TEST_IPAM_CONFIG } from "../../helpers/ipam-config.js";
const NO_ROUTES = async (): Promise<Prefix[]> => [];

function setup() {
  const clock = { t: 1_000_000 };
  const state = openSqliteState(":memory:");
  return { state, clock, ipam: new IpamService(state, TEST_IPAM_CONFIG, () => clock.t) };
}

function poolReq(pool = ""): PoolRequest {
  return { addressSpace: LOCAL_ADDRESS_SPACE, pool, subPool: "", options: {}, v6: false };
}

/** A promise and the function that resolves it. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open: (value: T) => void = () => undefined;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

void describe("IpamService: one change at a time, in arrival order", () => {
  void it("a carved pool waiting for the host routes keeps its place: a later --subnet request waits", async () => {
    const { ipam } = setup();
    const routes = gate<Prefix[]>();
    const carved = ipam.requestPool(poolReq(), () => routes.promise);
    const explicit = ipam.requestPool(poolReq("10.32.0.0/24"), NO_ROUTES);
    await tick();
    routes.open([]);
    assert.equal((await carved).pool, "10.32.0.0/24", "the first request got the lowest subnet");
    await assert.rejects(explicit, (err: unknown) => isWeaveError(err, "WEAVE_IPAM_POOL_OVERLAP"));
  });

  void it("reads the host routes only for a carved pool", async () => {
    const { ipam } = setup();
    let reads = 0;
    const routes = async () => {
      reads++;
      return [parsePrefix("10.32.0.0/24")];
    };
    assert.equal((await ipam.requestPool(poolReq("10.40.0.0/24"), routes)).pool, "10.40.0.0/24");
    assert.equal(reads, 0);
    assert.equal((await ipam.requestPool(poolReq(), routes)).pool, "10.32.1.0/24");
    assert.equal(reads, 1);
  });

  void it("opens a replay window after the calls already queued, so they cannot close it", async () => {
    const { ipam } = setup();
    const routes = gate<Prefix[]>();
    const carved = ipam.requestPool(poolReq(), () => routes.promise);
    const replay = ipam.beginReplay();
    await tick();
    routes.open([]);
    const { poolId, pool } = await carved;
    await replay;
    // Docker re-reserving the pool after registering us again: a replay, not an overlap.
    assert.deepEqual(await ipam.requestPool(poolReq(pool), NO_ROUTES), { poolId, pool });
  });

  void it("runs an exclusive task alone across its awaits", async () => {
    const { ipam } = setup();
    const { poolId } = await ipam.requestPool(poolReq("10.40.0.0/24"), NO_ROUTES);
    const hold = gate();
    const order: string[] = [];
    const task = ipam.exclusive(async (ledger) => {
      await hold.promise;
      order.push("task");
      return ledger.requestAddress({ poolId, address: "", options: {} });
    });
    const later = ipam.requestAddress({ poolId, address: "", options: {} }).then((r) => {
      order.push("later");
      return r;
    });
    await tick();
    assert.deepEqual(order, []);
    hold.open();
    assert.equal((await task).address, "10.40.0.1/24");
    assert.equal((await later).address, "10.40.0.2/24");
    assert.deepEqual(order, ["task", "later"]);
  });

  void it("reclaims only the reservation reconciliation found: one released and requested again stays", async () => {
    const { ipam, state, clock } = setup();
    const { poolId } = await ipam.requestPool(poolReq("10.40.0.0/24"), NO_ROUTES);
    const { address } = await ipam.requestAddress({ poolId, address: "10.40.0.9", options: {} });
    const foundPool = state.getPool(poolId);
    const foundAddress = state.getAddress(poolId, "10.40.0.9");
    assert.ok(foundPool && foundAddress);
    // Before the reclaims' turn, Docker gives the address and the pool back and takes them again.
    clock.t += 1;
    await ipam.releaseAddress(poolId, address);
    await ipam.requestAddress({ poolId, address: "10.40.0.9", options: {} });
    await ipam.reclaimAddress(foundAddress);
    const current = state.getAddress(poolId, "10.40.0.9");
    assert.ok(current, "the new reservation of the address stays");
    await ipam.reclaimAddress(current);
    assert.equal(state.getAddress(poolId, "10.40.0.9"), undefined, "what reconciliation finds is freed");

    await ipam.releasePool(poolId);
    await ipam.requestPool(poolReq("10.40.0.0/24"), NO_ROUTES);
    await ipam.reclaimPool(foundPool);
    const again = state.getPool(poolId);
    assert.ok(again, "the new reservation of the pool stays");
    await ipam.reclaimPool(again);
    assert.equal(state.getPool(poolId), undefined);
  });
});
