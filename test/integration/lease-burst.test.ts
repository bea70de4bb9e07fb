/**
 * A burst of lease expiries after an etcd restart, against a real etcd and weave's real Cluster
 * (fake transports, in-memory SQLite state). etcd renews every lease's TTL when it starts, so hosts
 * that died while it was down all expire together about a TTL after the restart. Host "a" (the
 * Cluster under test) must drop every dead host's FDB entries, neighbours and names, keep every
 * survivor's, keep its own registration and published endpoint, and go on following the store.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  dnsKey,
  endpointKey,
  endpointPrefix,
  parsePeer,
  parsePublishedEndpoint,
  peerKey,
} from "../../src/cluster/index.js";
import { Zone } from "../../src/dns/index.js";
import type { FakeOverlay } from "../../src/dataplane/index.js";
import { EtcdStore } from "../../src/store/index.js";
import { localEndpoint, publishNetwork, testCluster } from "../helpers/cluster.js";
import type { TestEtcd } from "./helpers/etcd.js";
import { etcdMissing, startEtcd } from "./helpers/etcd.js";

const CID = "00000000000000c1";
const HOSTS = 100;
const SURVIVORS = 50;
const PER_HOST = 10;
const TTL_S = 6;
const KEEPALIVE_MS = 2_000;
/** Host a's own lease (the Session's default). */
const SELF_TTL_S = 15;
const FLOOD = "00:00:00:00:00:00";
const A_MAC = "02:42:0a:20:00:02";

const hex = (n: number) => n.toString(16).padStart(2, "0");
const host = (h: number) => `s${h}`;
const hostAddr = (h: number) => `10.250.${h >> 8}.${h & 255}`;
const mac = (h: number, i: number) => `02:00:00:00:${hex(h)}:${hex(i)}`;
const ip = (h: number, i: number) => `10.33.${h}.${i + 2}`;
const owner = (h: number, i: number) => `r:${host(h)}:c:${i}`;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sorted = (items: Iterable<string>) => [...items].sort();

/** What host a should have programmed for hosts `hs`: FDB, neighbours, flood remotes, zone owners. */
function expected(hs: number[]) {
  const each = (f: (h: number, i: number) => string) =>
    sorted(hs.flatMap((h) => range(0, PER_HOST).map((i) => f(h, i))));
  return {
    fdb: each((h, i) => `${mac(h, i)} ${hostAddr(h)}`),
    neigh: each((h, i) => `${ip(h, i)} ${mac(h, i)}`),
    flood: sorted(hs.map(hostAddr)),
    zone: each(owner),
  };
}

/** What host a has programmed. */
function programmed(overlay: FakeOverlay, zone: Zone) {
  return {
    fdb: sorted(overlay.fdb.filter((e) => e.mac !== FLOOD).map((e) => `${e.mac} ${e.dst}`)),
    neigh: sorted(overlay.neigh.map((n) => `${n.ip} ${n.mac ?? ""}`)),
    flood: sorted(overlay.fdb.filter((e) => e.mac === FLOOD).map((e) => e.dst)),
    zone: sorted(zone.ownerKeys().filter((o) => o.startsWith("r:"))),
  };
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(50);
  }
}

/** Runs `f` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, f: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await f(items[next++] as T);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

/** Host a: the real Cluster over an EtcdStore, with one local endpoint of its own. */
function hostA(endpoint: string) {
  const zone = new Zone({ domain: "weave.local." });
  const { cluster, overlay } = testCluster({
    store: new EtcdStore({ endpoints: [endpoint], timeoutMs: 1_000, watchCheckMs: 1_000 }),
    storeUrl: endpoint,
    clusterId: CID,
    bits: 12,
    createdAt: Date.now(),
    endpoints: [localEndpoint("a", "10.32.0.2/12", Date.now())],
    dnsZone: zone,
  });
  return { cluster, overlay, zone };
}

const missing = etcdMissing();

void describe(
  "A burst of lease expiries after an etcd restart",
  { skip: missing ?? false, timeout: 120_000 },
  () => {
    let etcd: TestEtcd | undefined;
    let writer: EtcdStore | undefined;
    let a: ReturnType<typeof hostA> | undefined;
    /** The synthetic hosts' leases; those in `alive` are renewed every KEEPALIVE_MS. */
    const leases = new Map<number, string>();
    const alive = new Set<number>();
    let keeper: NodeJS.Timeout | undefined;
    let restartedAt = 0;

    before(async () => {
      etcd = await startEtcd();
      writer = new EtcdStore({ endpoints: [etcd.endpoint], timeoutMs: 1_000 });
    });

    after(async () => {
      clearInterval(keeper);
      await a?.cluster.close();
      await writer?.close();
      etcd?.stop();
    });

    void it("programs every endpoint and name of 100 hosts", async () => {
      assert.ok(etcd && writer);
      const store = writer;
      await publishNetwork(store, CID, { bits: 12, gateway: "10.32.0.1", createdAt: Date.now() });
      a = hostA(etcd.endpoint);
      a.cluster.start();

      const started = Date.now();
      // Renewing from the start: a slow population must not outlive the first leases.
      keeper = setInterval(() => {
        for (const h of alive) void store.keepAlive(leases.get(h) ?? "").catch(() => 0);
      }, KEEPALIVE_MS);
      await inParallel(range(0, HOSTS), 8, async (h) => {
        const lease = await store.grantLease(TTL_S);
        leases.set(h, lease);
        alive.add(h);
        const peer = {
          name: host(h),
          address: hostAddr(h),
          vxlanPort: 4789,
          version: "x",
          startedAt: 1,
          seenAt: 1,
        };
        await store.put(peerKey(host(h)), JSON.stringify(peer), { lease });
        await inParallel(range(0, PER_HOST), 4, async (i) => {
          const ep = { mac: mac(h, i), ipv4: `${ip(h, i)}/12`, ipv6: "" };
          await store.put(endpointKey(host(h), CID, `e${i}`), JSON.stringify(ep), { lease });
          const entries = [
            { name: `c${h}x${i}.weave.local.`, ipv4: [ip(h, i)], ipv6: [], scope: "weave", member: true },
          ];
          await store.put(dnsKey(host(h), `c:${i}`), JSON.stringify({ entries }), { lease });
        });
      });
      await converges("every endpoint and name of every host", a, expected(range(0, HOSTS)), 20_000);
      console.log(`populated and programmed ${HOSTS} hosts in ${Date.now() - started} ms`);
    });

    void it("drops every host that died during an etcd outage once its lease expires, and only those", async () => {
      assert.ok(etcd && writer && a);
      await etcd.kill();
      for (const h of range(SURVIVORS, HOSTS)) alive.delete(h); // They die while etcd is down.
      await sleep(4_000);
      await etcd.start();
      restartedAt = Date.now();
      // Nothing expires while etcd is down: at the restart every host is still there.
      assert.deepEqual(programmed(a.overlay, a.zone), expected(range(0, HOSTS)));
      await converges("the dead hosts gone", a, expected(range(0, SURVIVORS)), (TTL_S + 10) * 1_000);
      console.log(`burst handled ${Date.now() - restartedAt} ms after the restart`);
    });

    void it("keeps following the store after the burst", async () => {
      assert.ok(writer && a);
      const h = 7;
      const ep = { mac: "02:00:00:00:ff:07", ipv4: "10.33.200.7/12", ipv6: "" };
      const written = Date.now();
      await writer.put(endpointKey(host(h), CID, "new"), JSON.stringify(ep), { lease: leases.get(h) ?? "" });
      const want = expected(range(0, SURVIVORS));
      want.fdb = sorted([...want.fdb, `${ep.mac} ${hostAddr(h)}`]);
      want.neigh = sorted([...want.neigh, `10.33.200.7 ${ep.mac}`]);
      await converges("the new endpoint programmed", a, want, 2_000);
      console.log(`new endpoint programmed in ${Date.now() - written} ms`);

      // Past host a's own TTL since the restart: its session renewed its lease, so its registration
      // and what it publishes under that lease are still in etcd.
      await sleep(Math.max(0, restartedAt + (SELF_TTL_S + 3) * 1_000 - Date.now()));
      const self = await writer.get(peerKey("a"));
      assert.ok(self, "host a's peer record is still in etcd");
      assert.equal(parsePeer(self.value)?.address, "192.168.1.1");
      const published = await writer.list(endpointPrefix("a"));
      assert.deepEqual(
        published.items.map((kv) => parsePublishedEndpoint(kv.value)?.mac),
        [A_MAC],
        "host a's endpoint is still published",
      );
      assert.ok(a.cluster.status().registered);
      assert.deepEqual(programmed(a.overlay, a.zone), want, "the survivors are all still programmed");
    });
  },
);

/** Waits until host a has programmed exactly `want`; on a timeout, fails with the difference. */
async function converges(
  what: string,
  a: ReturnType<typeof hostA>,
  want: ReturnType<typeof expected>,
  ms: number,
) {
  const same = () => JSON.stringify(programmed(a.overlay, a.zone)) === JSON.stringify(want);
  try {
    await eventually(what, same, ms);
  } catch (err) {
    assert.deepEqual(programmed(a.overlay, a.zone), want, `${what}: ${String(err)}`);
  }
}
