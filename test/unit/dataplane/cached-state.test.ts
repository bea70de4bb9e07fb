/** The transport ports' memory between full passes (CachedState, converge, the folds) over the fakes. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CachedState,
  chunkOps,
  FakeOverlay,
  FakeRouted,
  OVERLAY_READS,
  ROUTED_READS,
} from "../../../src/dataplane/index.js";
import { observedOf, overlayModel } from "../../../src/dataplane/overlay-state.js";
import type {
  ObservedOverlay,
  ObservedRouted,
  OverlayNetwork,
  RemoteEndpoint,
  RoutedNetwork,
} from "../../../src/dataplane/index.js";

const spec = { vni: 4096, port: 4789, local: "192.168.1.1", mtu: 1350, bridge: "weave-a" };

/** Network vxw4096 with the remote endpoints numbered `ids` (peer 192.168.1.2 or .3 by parity). */
function network(ids: readonly number[], vni = 4096, shift = 0): OverlayNetwork {
  const endpoints: RemoteEndpoint[] = ids.map((i) => ({
    mac: `02:42:0a:20:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
    ipv4: `10.32.${i >> 8}.${i & 255}`,
    peer: (i + shift) % 2 === 0 ? "192.168.1.2" : "192.168.1.3",
  }));
  const floodPeers = [...new Set(endpoints.map((e) => e.peer))].sort();
  return { spec: { ...spec, vni, name: `vxw${vni}`, bridge: `weave-${vni}` }, floodPeers, endpoints };
}

const isRead = (cmd: string): boolean => cmd.includes("-json") || /^sysctl [^-]/.test(cmd);

/** The commands `run` makes `fake` record. */
async function recorded(fake: { commands: string[] }, run: () => Promise<unknown>): Promise<string[]> {
  const before = fake.commands.length;
  await run();
  return fake.commands.slice(before);
}

const sortOverlay = (s: ObservedOverlay): ObservedOverlay => ({
  links: [...s.links].sort((a, b) => a.name.localeCompare(b.name)),
  fdb: [...s.fdb]
    .map((e) => ({ ...e }))
    .sort((a, b) => `${a.dev}${a.mac}${a.dst}`.localeCompare(`${b.dev}${b.mac}${b.dst}`)),
  neigh: [...s.neigh].sort((a, b) => `${a.dev}${a.ip}`.localeCompare(`${b.dev}${b.ip}`)),
});

void describe("CachedState", () => {
  void it("reads the first time, when fresh, when the scope changes and after forget; folds what was applied", async () => {
    const cache = new CachedState<number[], number>((s, ops) => [...s, ...ops]);
    let reads = 0;
    const read = async () => [++reads * 100];
    assert.deepEqual(await cache.get(read, { fresh: false, scope: "a" }), [100]);
    cache.applied([1, 2]);
    assert.deepEqual(await cache.get(read, { fresh: false, scope: "a" }), [100, 1, 2]);
    assert.deepEqual(await cache.get(read, { fresh: true, scope: "a" }), [200]);
    assert.deepEqual(await cache.get(read, { fresh: false, scope: "b" }), [300]);
    cache.forget();
    assert.deepEqual(await cache.get(read, { fresh: false, scope: "b" }), [400]);
    assert.equal(cache.reads, 4);
    await assert.rejects(cache.get(() => Promise.reject(new Error("boom")), { fresh: true, scope: "b" }));
    assert.equal(cache.current, undefined, "a failed read leaves nothing remembered");
  });

  void it("chunkOps keeps each operation's lines together, at most maxLines per chunk", () => {
    const render = (n: number): string[] => Array.from({ length: n }, (_, i) => `${n}.${i}`);
    assert.deepEqual(chunkOps([1, 2, 1, 1, 3, 1], render, 3), [[1, 2], [1, 1], [3], [1]]);
    assert.deepEqual(chunkOps([5], render, 3), [[5]], "an operation longer than a chunk is its own");
    assert.deepEqual(chunkOps([], render, 3), []);
  });
});

void describe("FakeOverlay between full passes", () => {
  void it("reads only on full passes; a change adds exactly its operations", async () => {
    const fake = new FakeOverlay();
    const first = await recorded(fake, () => fake.reconcile([network([2, 3])]));
    assert.deepEqual(first.slice(0, 3), OVERLAY_READS);
    assert.deepEqual(await recorded(fake, () => fake.reconcile([network([2, 3])], { full: false })), []);
    const change = await recorded(fake, () => fake.reconcile([network([2, 3, 4])], { full: false }));
    assert.deepEqual(change, [
      "bridge fdb replace 02:42:0a:20:00:04 dev vxw4096 dst 192.168.1.2 self permanent",
      "ip neigh replace 10.32.0.4 lladdr 02:42:0a:20:00:04 dev vxw4096 nud permanent",
    ]);
    const gone = await recorded(fake, () => fake.reconcile([network([3, 4])], { full: false }));
    assert.deepEqual(gone, [
      "bridge fdb del 02:42:0a:20:00:02 dev vxw4096 dst 192.168.1.2 self",
      "ip neigh del 10.32.0.2 dev vxw4096",
    ]);
    assert.deepEqual(await recorded(fake, () => fake.reconcile([network([3, 4])])), OVERLAY_READS);
    assert.equal(fake.cache.reads, 2);
  });

  void it("repairs a change behind weave's back at the next full pass, not before", async () => {
    const fake = new FakeOverlay();
    await fake.reconcile([network([2, 3])]);
    fake.fdb = fake.fdb.filter((e) => e.mac !== "02:42:0a:20:00:03");
    fake.neigh = [];
    assert.deepEqual(await recorded(fake, () => fake.reconcile([network([2, 3])], { full: false })), []);
    const repair = await recorded(fake, () => fake.reconcile([network([2, 3])], { full: true }));
    assert.deepEqual(repair, [
      ...OVERLAY_READS,
      "bridge fdb replace 02:42:0a:20:00:03 dev vxw4096 dst 192.168.1.3 self permanent",
      "ip neigh replace 10.32.0.2 lladdr 02:42:0a:20:00:02 dev vxw4096 nud permanent",
      "ip neigh replace 10.32.0.3 lladdr 02:42:0a:20:00:03 dev vxw4096 nud permanent",
    ]);
  });

  void it("reads again after a failed pass and when the networks change", async () => {
    const fake = new FakeOverlay();
    await fake.reconcile([network([2])]);
    fake.failNext("10.32.0.3");
    await assert.rejects(fake.reconcile([network([2, 3])], { full: false }), /injected/);
    const after = await recorded(fake, () => fake.reconcile([network([2, 3])], { full: false }));
    assert.deepEqual(after, [
      ...OVERLAY_READS,
      "ip neigh replace 10.32.0.3 lladdr 02:42:0a:20:00:03 dev vxw4096 nud permanent",
    ]);
    const more = await recorded(fake, () =>
      fake.reconcile([network([2, 3]), network([9], 4097)], { full: false }),
    );
    assert.deepEqual(more.slice(0, 4), [
      ...OVERLAY_READS,
      "ip link add vxw4097 mtu 1350 type vxlan id 4097 local 192.168.1.1 dstport 4789 nolearning proxy",
    ]);
  });

  void it("the remembered state is what the kernel holds, whatever the passes (property)", async () => {
    const desiredArb = fc.array(
      fc.record({
        vni: fc.constantFrom(4096, 4097),
        ids: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 6 }),
        mtu: fc.constantFrom(1350, 1400),
        shift: fc.constantFrom(0, 1),
      }),
      { maxLength: 2 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(desiredArb, fc.boolean()), { minLength: 1, maxLength: 6 }),
        async (passes) => {
          const fake = new FakeOverlay();
          for (const [nets, full] of passes) {
            const seen = new Set<number>();
            const desired = nets
              .filter((n) => !seen.has(n.vni) && seen.add(n.vni))
              .map((n) => {
                const net = network(n.ids, n.vni, n.shift);
                return { ...net, spec: { ...net.spec, mtu: n.mtu } };
              });
            await fake.reconcile(desired, { full });
            assert.deepEqual(
              sortOverlay(observedOf(fake.cache.current ?? overlayModel({ links: [], fdb: [], neigh: [] }))),
              sortOverlay(fake.observe()),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

const routedNet = (ips: readonly string[], dev?: string): RoutedNetwork => ({
  bridge: "weave-a",
  remotes: ips.map((ip) => (dev !== undefined ? { ip, dev } : { ip, via: "192.168.1.2" })),
});

const sortRouted = (s: ObservedRouted): ObservedRouted => ({
  routes: [...s.routes].sort((a, b) => `${a.dst} ${a.metric}`.localeCompare(`${b.dst} ${b.metric}`)),
  proxies: [...s.proxies].sort((a, b) => `${a.dev} ${a.ip}`.localeCompare(`${b.dev} ${b.ip}`)),
  sysctls: s.sysctls,
});

void describe("FakeRouted between full passes", () => {
  void it("reads only on full passes, when the scope changes and after a failure", async () => {
    const fake = new FakeRouted();
    const first = await recorded(fake, () => fake.reconcile([routedNet(["10.40.0.3"])]));
    assert.deepEqual(first.filter(isRead), [
      ...ROUTED_READS,
      "sysctl net.ipv4.neigh.weave-a.proxy_delay net.ipv4.ip_forward",
    ]);
    const change = await recorded(fake, () =>
      fake.reconcile([routedNet(["10.40.0.3", "10.40.0.4"])], { full: false }),
    );
    assert.deepEqual(change, [
      "ip route replace 10.40.0.4/32 via 192.168.1.2 proto 87",
      "ip neigh replace proxy 10.40.0.4 dev weave-a",
    ]);
    fake.routes = []; // behind weave's back
    assert.deepEqual(
      await recorded(fake, () => fake.reconcile([routedNet(["10.40.0.3", "10.40.0.4"])], { full: false })),
      [],
    );
    const repair = await recorded(fake, () => fake.reconcile([routedNet(["10.40.0.3", "10.40.0.4"])]));
    assert.deepEqual(
      repair.filter((c) => !isRead(c)),
      [
        "ip route replace 10.40.0.3/32 via 192.168.1.2 proto 87",
        "ip route replace 10.40.0.4/32 via 192.168.1.2 proto 87",
      ],
    );
    const wg = await recorded(fake, () =>
      fake.reconcile([routedNet(["10.40.0.3"], "wvg0")], { full: false }),
    );
    assert.deepEqual(wg.filter(isRead).length, 4, "a new route device is a new scope: read");
  });

  void it("the remembered state is what the kernel holds, whatever the passes (property)", async () => {
    const passArb = fc.tuple(
      fc.uniqueArray(fc.constantFrom("10.40.0.1", "10.40.0.2", "fd40::1", "fd40::2", "10.40.0.3"), {
        maxLength: 4,
      }),
      fc.constantFrom(undefined, "wvg0"),
      fc.boolean(),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(passArb, { minLength: 1, maxLength: 6 }), async (passes) => {
        const fake = new FakeRouted();
        for (const [ips, dev, full] of passes) {
          await fake.reconcile(
            [
              routedNet(
                ips.filter((ip) => dev !== undefined || !ip.includes(":")),
                dev,
              ),
            ],
            { full },
          );
          const cached = fake.cache.current ?? { routes: [], proxies: [], sysctls: {} };
          assert.deepEqual(
            sortRouted({ ...cached, sysctls: {} }),
            sortRouted({ ...fake.observe(), sysctls: {} }),
          );
          for (const [key, value] of Object.entries(cached.sysctls))
            assert.equal(fake.sysctls.get(key), value);
        }
      }),
      { numRuns: 150 },
    );
  });
});
