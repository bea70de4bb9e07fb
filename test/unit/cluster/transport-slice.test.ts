/**
 * TransportSync's slice passes: after any sequence of endpoint and peer changes, the kernel that
 * slice passes leave is the one a whole pass over the same cluster programs, and a slice pass reads
 * nothing and touches only the entries of what changed.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { endpointKey } from "../../../src/cluster/records.js";
import type { PeerRecord } from "../../../src/cluster/records.js";
import { PACE, SLICE_PACE_MAX_MS, TransportSync } from "../../../src/cluster/transport-sync.js";
import type { ViewInputs } from "../../../src/cluster/transport-view.js";
import { vxlanTransport } from "../../../src/cluster/transports/vxlan.js";
import type { RemoteEndpointView } from "../../../src/cluster/view.js";
import { FakeClock } from "../../../src/core/index.js";
import { FakeOverlay, OVERLAY_READS } from "../../../src/dataplane/index.js";
import type { ObservedOverlay } from "../../../src/dataplane/index.js";
import { clusterNetwork, localNetwork } from "../../helpers/cluster.js";
import { captureLogger, probeSync } from "./kit.js";

const NETS = ["00000000000000c1", "00000000000000c2"];
const HOSTS = ["b", "c", "d"];

/** A cluster that changes: endpoints by store key, peers by name. */
class World {
  readonly endpoints = new Map<string, RemoteEndpointView>();
  readonly peers = new Map<string, PeerRecord>();

  inputs(): ViewInputs {
    return {
      host: "a",
      networks: NETS.map((cid, i) => ({ ...localNetwork(`net-${i}`, cid), bridge: `weave-${i}` })),
      cluster: NETS.map((cid, i) => clusterNetwork(cid, 4096 + i)),
      peers: [peer("a", 1), ...this.peers.values()],
      endpoints: [...this.endpoints.values()],
    };
  }
}

function peer(name: string, last: number): PeerRecord {
  return { name, address: `192.168.1.${last}`, vxlanPort: 4789, version: "x", startedAt: 0, seenAt: 0 };
}

/** Endpoint number `id` (its MAC) with address number `ip`, on `host` in network `net`. */
function endpoint(id: number, ip: number, host: string, net: number): RemoteEndpointView {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return {
    host,
    clusterId: NETS[net] ?? "",
    key: endpointKey(host, NETS[net] ?? "", `e${id}`),
    mac: `02:42:0a:20:00:${hex(id)}`,
    ipv4: `10.32.0.${ip}/24`,
    ipv6: "",
  };
}

function sync(world: World, overlay: FakeOverlay, sliced: boolean): TransportSync {
  return new TransportSync({
    transports: [vxlanTransport(overlay, 4789)],
    local: "192.168.1.1",
    paths: () => ({ mode: "vxlan", attached: [], underlayMtu: 1400 }),
    tunnel: () => undefined,
    logger: captureLogger().logger,
    clock: new FakeClock(1_000_000),
    inputs: () => world.inputs(),
    ...(sliced ? { endpoint: (key: string) => world.endpoints.get(key) } : {}),
  });
}

const sorted = (o: ObservedOverlay) => ({
  links: [...o.links].sort((a, b) => a.name.localeCompare(b.name)),
  fdb: o.fdb.map((e) => `${e.dev} ${e.mac} ${e.dst} ${e.permanent}`).sort(),
  neigh: o.neigh.map((e) => `${e.dev} ${e.ip} ${e.mac ?? ""} ${e.permanent}`).sort(),
});

type Op =
  | { kind: "put"; id: number; host: number; net: number }
  | { kind: "delete"; id: number }
  | { kind: "readdress"; id: number }
  | { kind: "peer-down"; host: number }
  | { kind: "peer-up"; host: number; address: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("put" as const),
    id: fc.integer({ min: 1, max: 8 }),
    host: fc.integer({ min: 0, max: 2 }),
    net: fc.integer({ min: 0, max: 1 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("readdress" as const), id: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("peer-down" as const), host: fc.integer({ min: 0, max: 2 }) }),
  fc.record({
    kind: fc.constant("peer-up" as const),
    host: fc.integer({ min: 0, max: 2 }),
    address: fc.integer({ min: 2, max: 5 }),
  }),
);

/**
 * Applies `op` to the world; returns the store keys it changed and whether peers changed. Every
 * endpoint keeps a unique MAC (its id) and address (a free one), as IPAM guarantees.
 */
function apply(world: World, op: Op, nextIp: () => number): { keys: string[]; peers: boolean } {
  const keyOf = (ep: RemoteEndpointView) => ep.key;
  const find = (id: number) => [...world.endpoints.values()].find((e) => e.key.endsWith(`/e${id}`));
  switch (op.kind) {
    case "put": {
      const old = find(op.id);
      const ep = endpoint(op.id, nextIp(), HOSTS[op.host] ?? "b", op.net);
      if (old) world.endpoints.delete(keyOf(old));
      world.endpoints.set(keyOf(ep), ep);
      return { keys: [...(old ? [keyOf(old)] : []), keyOf(ep)], peers: false };
    }
    case "delete": {
      const old = find(op.id);
      if (old) world.endpoints.delete(keyOf(old));
      return { keys: old ? [keyOf(old)] : [], peers: false };
    }
    case "readdress": {
      const old = find(op.id);
      if (!old) return { keys: [], peers: false };
      world.endpoints.set(keyOf(old), { ...old, ipv4: `10.32.0.${nextIp()}/24` });
      return { keys: [keyOf(old)], peers: false };
    }
    case "peer-down":
      world.peers.delete(HOSTS[op.host] ?? "b");
      return { keys: [], peers: true };
    case "peer-up": {
      const name = HOSTS[op.host] ?? "b";
      world.peers.set(name, peer(name, op.address));
      return { keys: [], peers: true };
    }
  }
}

void describe("TransportSync slice passes", () => {
  void it("leave the kernel a whole pass programs, whatever the changes (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { maxLength: 10 }),
        async (batches) => {
          const world = new World();
          world.peers.set("b", peer("b", 2));
          world.peers.set("c", peer("c", 3));
          let ip = 10;
          const nextIp = () => ip++;
          const overlay = new FakeOverlay();
          const s = sync(world, overlay, true);
          await s.runNow();
          for (const batch of batches) {
            for (const op of batch) {
              const { keys, peers } = apply(world, op, nextIp);
              for (const key of keys) s.endpointChanged({ kind: "key", key, value: undefined });
              if (peers) s.peersChanged();
            }
            overlay.commands.length = 0;
            await s.runNow();
            assert.equal(s.lastError, "");
            for (const read of OVERLAY_READS)
              assert.ok(!overlay.commands.includes(read), "a slice pass reads nothing");
            const whole = new FakeOverlay();
            const w = sync(world, whole, false);
            await w.runNow();
            assert.deepEqual(sorted(overlay.observe()), sorted(whole.observe()));
            await w.close();
          }
          assert.equal(s.slicePasses, batches.length);
          await s.close();
        },
      ),
      { numRuns: 150 },
    );
  });

  void it("a change costs the entries it touches, not a walk of the cluster's", async () => {
    const world = new World();
    for (const [i, h] of HOSTS.entries()) world.peers.set(h, peer(h, 2 + i));
    for (let id = 1; id <= 200; id++) {
      const ep = endpoint(id % 250, id, HOSTS[id % 3] ?? "b", id % 2);
      world.endpoints.set(ep.key, ep);
    }
    const overlay = new FakeOverlay();
    const s = sync(world, overlay, true);
    await s.runNow();
    const ep = endpoint(250, 250, "c", 0);
    const key = ep.key;
    world.endpoints.set(key, ep);
    s.endpointChanged({ kind: "key", key, value: undefined });
    let seen = 0;
    world.inputs = ((orig) => () => {
      const i = orig();
      return {
        ...i,
        get endpoints() {
          seen++;
          return i.endpoints;
        },
      };
    })(world.inputs.bind(world));
    overlay.commands.length = 0;
    await s.runNow();
    assert.equal(seen, 0, "the slice pass did not list the endpoints");
    assert.deepEqual(overlay.commands, [
      "bridge fdb replace 02:42:0a:20:00:fa dev vxw4096 dst 192.168.1.3 self permanent",
      "ip neigh replace 10.32.0.250 lladdr 02:42:0a:20:00:fa dev vxw4096 nud permanent",
    ]);
    s.kick();
    await s.runNow();
    assert.equal(seen, 1, "a whole pass lists the endpoints once");
    await s.close();
  });

  void it("a big slice pass holds the next change back SLICE_PACE_MAX_MS at most, not PACE x its duration", async () => {
    const fake = new FakeClock(0);
    let spent = 0; // time the passes "took": the clock reads it on top of the fake time
    const clock = { now: () => fake.now() + spent, setTimeout: fake.setTimeout.bind(fake) };
    const passes: [number, boolean][] = [];
    const world = new World();
    world.peers.set("b", peer("b", 2));
    const s = probeSync(
      clock,
      (pass) => {
        passes.push([fake.now(), pass.slice !== undefined]);
        spent += pass.full ? 50 : 1_000; // a host with many containers joined: a big slice
      },
      { inputs: () => world.inputs(), endpoint: (key) => world.endpoints.get(key) },
    );
    s.start();
    await fake.advance(0);
    const change = (id: number) => {
      const ep = endpoint(id, id, "b", 0);
      const key = ep.key;
      world.endpoints.set(key, ep);
      s.endpointChanged({ kind: "key", key, value: undefined });
    };
    change(1);
    await fake.advance(100);
    change(2);
    await fake.advance(2_000);
    assert.ok(PACE * 1_000 > SLICE_PACE_MAX_MS);
    assert.deepEqual(passes, [
      [0, false],
      [20, true],
      [100 + SLICE_PACE_MAX_MS, true],
    ]);
    await s.close();
  });
});
