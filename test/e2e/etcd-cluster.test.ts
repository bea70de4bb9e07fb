/**
 * weave on a three-member etcd cluster that loses its leader while containers start: two dockerd
 * hosts on one underlay, each running weave with `--store etcd://<switch>:2379,<switch>:12379,
 * <switch>:22379`. Twelve containers start at once on a /26 network (blocks of 4 addresses, so
 * the hosts claim blocks in the store while they start); after the first two, the leader is
 * SIGKILLed, and at once a new network is created (its subnet reserved in the store, during the
 * election). Every `docker run` and the `docker network create` succeed, no address is given twice,
 * weaveDNS answers across the hosts, both hosts see the store again, and the killed member rejoins
 * healthy.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Etcd, EtcdCluster, ExecResult, Host, Underlay } from "./harness/index.js";
import {
  createHost,
  createUnderlay,
  destroyAll,
  requireE2E,
  startEtcdCluster,
  TEST_IMAGE,
} from "./harness/index.js";
import { canPing, containerIp, eventually, ok, uniq, weaveNetwork } from "./lib.js";
import { dig, dnsFlags, eventuallyResolves, gatewayOf } from "./deploy-lib.js";

const skip = requireE2E(["etcd", "dig"]);

/** `weave status peers --json`, the part this test reads. */
interface PeersJson {
  store: { reachable: boolean; error: string };
  peers: { name: string; state: string }[];
}

async function peersOf(host: Host): Promise<PeersJson> {
  return JSON.parse(ok(await host.weave(["status", "peers", "--json"]), "weave status peers")) as PeersJson;
}

void describe("weave on a three-member etcd cluster whose leader dies", { skip }, () => {
  let underlay: Underlay;
  let cluster: EtcdCluster;
  let hA: Host;
  let hB: Host;
  const net = uniq("ha");
  const net2 = uniq("hb");
  let gateway = "";
  let started: { h: Host; name: string; ms: number }[] = [];
  let killed: Etcd | undefined;

  before(async () => {
    underlay = await createUnderlay();
    cluster = await startEtcdCluster(underlay, { members: 3 });
    const hosts: Host[] = [];
    for (const name of ["ha", "hb"]) {
      const h = await createHost({ name, underlay });
      await h.loadTestImage();
      hosts.push(h);
    }
    [hA, hB] = hosts as [Host, Host];
    await Promise.all(
      hosts.map(async (h) =>
        ok(
          await h.weave([
            "launch",
            "--store",
            cluster.storeUrl,
            "--advertise-addr",
            h.address,
            "--name",
            h.name,
          ]),
          `weave launch on ${h.name}`,
        ),
      ),
    );
    await weaveNetwork(hA, "--subnet", "10.79.0.0/26", "--gateway", "10.79.0.1", net);
    await eventually(
      `${net} on host B`,
      async () => (await hB.docker(["network", "inspect", net])).code === 0,
      15_000,
    );
    gateway = await gatewayOf(hA, net);
  });
  after(() => destroyAll());

  test("containers started on both hosts while the leader is killed all start, with distinct addresses", async () => {
    const perHost = 6;
    const lanes = 3; // per host: 3 lanes of 2 runs in a row, so starts go on through the election
    let done = 0;
    let firstTwo: () => void = () => undefined;
    const twoStarted = new Promise<void>((resolve) => (firstTwo = resolve));
    const runOne = async (h: Host) => {
      const name = uniq(h === hA ? "ca" : "cb");
      const t0 = Date.now();
      const res = await h.docker(
        ["run", "-d", "--name", name, "--net", net, ...dnsFlags(gateway), TEST_IMAGE, "sleep", "3600"],
        { timeoutMs: 90_000 },
      );
      ok(res, `docker run ${name} on ${h.name}`);
      if (++done === 2) firstTwo();
      return { h, name, ms: Date.now() - t0 };
    };
    const runs = [hA, hB].flatMap((h) =>
      Array.from({ length: lanes }, async () => {
        const out: { h: Host; name: string; ms: number }[] = [];
        for (let i = 0; i < perHost / lanes; i++) out.push(await runOne(h));
        return out;
      }),
    );
    // With the kill, a command that needs the store at once: reserving a new network's subnet.
    let created: ExecResult | undefined;
    const killing = twoStarted.then(async () => {
      killed = await cluster.leader();
      const at = done;
      // Sent together with the kill: dockerd asks weave for the subnet some 0.3-1 s later, while
      // the surviving members notice the leader gone (about 1 s) and elect another.
      const creating = hB.docker(["network", "create", "-d", "weave", "--ipam-driver", "weave", net2], {
        timeoutMs: 90_000,
      });
      process.stdout.write(`# kill ${killed.name} at ${new Date().toISOString()}\n`);
      await killed.kill();
      created = await creating;
      return at;
    });
    const results = await Promise.allSettled(runs);
    firstTwo(); // fewer than two started: kill now anyway, and fail below
    const startedBeforeKill = await killing;
    const failures = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
    assert.deepEqual(failures, [], "every docker run succeeded");
    assert.ok(created, "network create ran");
    ok(created, `docker network create ${net2} just after the kill`);
    started = results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
    assert.ok(
      startedBeforeKill < 2 * perHost,
      `the leader died while containers were starting (${startedBeforeKill} done)`,
    );
    assert.equal(started.length, 2 * perHost);
    const ips = await Promise.all(started.map(({ h, name }) => containerIp(h, name, net)));
    assert.equal(new Set(ips).size, ips.length, `no duplicate: ${ips.sort().join(" ")}`);
    const slowest = Math.max(...started.map((s) => s.ms));
    process.stdout.write(
      `# ${startedBeforeKill} started before the kill; slowest docker run ${slowest} ms\n`,
    );
  });

  test("weaveDNS on host A answers a name of host B, which it pings; both hosts have the new network and reach the store", async () => {
    const a = started.find((s) => s.h === hA);
    const b = started.findLast((s) => s.h === hB);
    assert.ok(a && b, "containers on both hosts");
    const ipB = await containerIp(hB, b.name, net);
    await eventually(
      "weaveDNS on host A knows B's container",
      async () => (await dig(hA, gateway, `${b.name}.weave.local`)).includes(ipB),
      20_000,
    );
    await eventuallyResolves(hA, a.name, `${b.name}.weave.local`, ipB);
    assert.ok(await canPing(hA, a.name, `${b.name}.weave.local`), "A's container pings B's by name");
    await eventually(
      `${net2} (created during the election) on host A`,
      async () => (await hA.docker(["network", "inspect", net2])).code === 0,
      20_000,
    );
    for (const h of [hA, hB]) {
      await eventually(`${h.name} reaches the store`, async () => (await peersOf(h)).store.reachable, 20_000);
      assert.match(ok(await h.weave(["status"])), /store reachable/);
    }
  });

  test("the killed member starts again with its data and the cluster is healthy", async () => {
    assert.ok(killed, "a member was killed");
    await killed.start();
    assert.ok(await killed.healthy(), `member ${killed.name} healthy`);
    await eventually("every member healthy", () => cluster.healthy(), 15_000);
    const leader = await cluster.leader();
    assert.ok(cluster.members.includes(leader));
  });
});
