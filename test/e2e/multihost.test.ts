/**
 * weave across hosts, end to end: a real etcd (Debian's etcd-server) on an underlay switch with MTU
 * 1400, and three dockerd "hosts" attached to it, each running weave with
 * `--store etcd://<switch>:2379 --advertise-addr <its address> --name <its name>`.
 *
 * The tests run in order and share the cluster: peers and the default network; cross-host traffic
 * by address and name at full MTU; a network created on host 1 used on hosts 2 and 3; isolation of
 * two networks across hosts; concurrent starts on all hosts without a duplicate address; --ip and
 * the removal rule; docker network connect/disconnect (--ip, --alias) seen from the other hosts;
 * multicast across hosts within one network; masquerading to an outside address (the switch);
 * a host stopped (daemon and dockerd) whose names and FDB entries disappear elsewhere; etcd
 * stopped for 30 s with traffic going on, then convergence; weave rmpeer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Etcd, Host, Underlay } from "./harness/index.js";
import {
  createHost,
  createUnderlay,
  destroyAll,
  requireE2E,
  run,
  startEtcd,
  TEST_IMAGE,
} from "./harness/index.js";
import { canPing, containerIp, eventually, fails, ok, runSleeper, uniq, weaveNetwork } from "./lib.js";
import { answersOf, defaultGatewayOf, dig, digFrom, dnsFlags, gatewayOf, lossDuring } from "./deploy-lib.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const skip = requireE2E(["etcd", "ping", "bridge", "dig", "node"]);

interface PeersJson {
  name: string;
  store: { reachable: boolean; error: string };
  peers: { name: string; address: string; state: string }[];
  conflicts: string[];
  networks: { name: string; clusterId: string; vni: number; host: string }[];
}

async function peersOf(host: Host): Promise<PeersJson> {
  return JSON.parse(ok(await host.weave(["status", "peers", "--json"]), "weave status peers")) as PeersJson;
}

/** Remote FDB entries (MACs) on the VXLAN devices of a host. */
async function fdbMacs(host: Host): Promise<string[]> {
  const out = ok(await host.sh("bridge fdb show | grep ' dev vxw' | grep ' dst ' || true"));
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(" ")[0] ?? "");
}

async function macOf(host: Host, container: string, network: string): Promise<string> {
  return ok(
    await host.docker([
      "inspect",
      "-f",
      `{{(index .NetworkSettings.Networks "${network}").MacAddress}}`,
      container,
    ]),
  );
}

/** Runs `argv` inside `container`'s network namespace (host tools, e.g. node, in the container's view). */
async function inNetns(host: Host, container: string, argv: readonly string[]) {
  const pid = ok(await host.docker(["inspect", "-f", "{{.State.Pid}}", container]), `pid of ${container}`);
  return host.exec(["nsenter", "-t", pid, "-n", ...argv], { timeoutMs: 60_000 });
}

/**
 * Node programs run with the machine's node inside a container's network namespace (busybox has no
 * multicast tools). The receiver joins GROUP on the interface with address IP, counts datagrams equal
 * to MARKER on PORT for MS milliseconds and prints the count; the sender sends MARKER to GROUP:PORT
 * COUNT times, every 200 ms, through the default route (TTL 1: the network is one layer-2 segment).
 */
const MCAST_RECEIVER = `
const [group, port, ip, marker, ms] = process.argv.slice(1);
const s = require("node:dgram").createSocket({ type: "udp4", reuseAddr: true });
let n = 0;
s.on("message", (m) => { if (m.toString() === marker) n++; });
s.bind(Number(port), () => s.addMembership(group, ip));
setTimeout(() => { console.log(n); process.exit(0); }, Number(ms));
`;
const MCAST_SENDER = `
const [group, port, marker, count] = process.argv.slice(1);
const s = require("node:dgram").createSocket("udp4");
let i = 0;
const t = setInterval(() => {
  s.send(marker, Number(port), group, (e) => { if (e) { console.error(e.message); process.exit(1); } });
  if (++i >= Number(count)) { clearInterval(t); setTimeout(() => process.exit(0), 200); }
}, 200);
`;
/**
 * An HTTP server that answers each request with the source address it sees, prints that address,
 * and exits after MAX requests or MS milliseconds.
 */
const PEER_ECHO_SERVER = `
const [addr, port, max, ms] = process.argv.slice(1);
let n = 0;
const srv = require("node:http").createServer((q, r) => {
  const a = q.socket.remoteAddress; console.log(a); r.setHeader("connection", "close"); r.end(a);
  if (++n >= Number(max)) srv.close();
});
srv.listen(Number(port), addr);
setTimeout(() => process.exit(0), Number(ms)).unref();
`;

void describe("weave across three hosts with etcd", { skip }, () => {
  let underlay: Underlay;
  let etcd: Etcd;
  const hosts: Host[] = [];
  let h1: Host;
  let h2: Host;
  let h3: Host;

  const launch = async (h: Host) =>
    ok(
      await h.weave([
        "launch",
        "--store",
        etcd.url,
        "--advertise-addr",
        h.address,
        "--name",
        h.name,
        "--vxlan-port",
        "8472",
      ]),
      `weave launch on ${h.name}`,
    );

  before(async () => {
    underlay = await createUnderlay({ mtu: 1400 });
    etcd = await startEtcd(underlay);
    for (const name of ["mh1", "mh2", "mh3"]) {
      const h = await createHost({ name });
      await underlay.attach(h);
      await h.loadTestImage();
      hosts.push(h);
    }
    [h1, h2, h3] = hosts as [Host, Host, Host];
    await Promise.all(hosts.map(launch));
  });
  after(() => destroyAll());

  test("every host sees every peer, and the default network is the same network everywhere", async () => {
    for (const h of hosts) {
      await eventually(`${h.name} sees 3 peers`, async () => {
        const p = await peersOf(h);
        return p.store.reachable && p.peers.filter((x) => x.state !== "gone").length === 3;
      });
    }
    const p = await peersOf(h1);
    assert.deepEqual(
      p.peers.map((x) => [x.name, x.address, x.state]),
      [
        [h1.name, h1.address, "self"],
        [h2.name, h2.address, "alive"],
        [h3.name, h3.address, "alive"],
      ],
    );
    // Hosts that created it at the same moment converge on the one the cluster published.
    const subnetOf = async (h: Host) =>
      (
        await h.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "weave"])
      ).stdout.trim();
    await eventually(
      "one default network everywhere",
      async () => {
        const seen = new Set(await Promise.all(hosts.map(subnetOf)));
        return seen.size === 1 && !seen.has("");
      },
      15_000,
    );
    const subnets = new Set<string>();
    const ids = new Set<string>();
    for (const h of hosts) {
      await eventually(
        `default network on ${h.name}`,
        async () => (await h.docker(["network", "inspect", "weave"])).code === 0,
        30_000,
      );
      subnets.add(
        ok(await h.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "weave"])),
      );
      // The host that created it has no option; the others got it from the cluster with its ID.
      const id = ok(
        await h.docker(["network", "inspect", "-f", '{{index .Options "weave.cluster.id"}}', "weave"]),
      );
      if (id !== "<no value>" && id !== "") ids.add(id);
    }
    assert.equal(subnets.size, 1, `one subnet: ${[...subnets].join(" ")}`);
    const record = (await peersOf(h1)).networks.find((n) => n.name === "weave");
    assert.ok(record, "the default network is in the cluster");
    assert.deepEqual([...ids], [record.clusterId], "every copy is bound to the cluster's record");
  });

  let a1 = "";
  let b2 = "";
  let ipB2 = "";

  test("containers on different hosts talk by address and by name, full-size packets included", async () => {
    const gw = await gatewayOf(h1, "weave");
    a1 = await runSleeper(h1, uniq("a"), ["--net=weave", ...dnsFlags(gw)]);
    b2 = await runSleeper(h2, uniq("b"), ["--net=weave", ...dnsFlags(gw)]);
    ipB2 = await containerIp(h2, b2, "weave");
    const ipA1 = await containerIp(h1, a1, "weave");
    assert.notEqual(ipA1, ipB2);
    await eventually("a1 pings b2", () => canPing(h1, a1, ipB2), 5_000);
    await eventually(
      "host 1's weaveDNS knows b2",
      async () => (await dig(h1, gw, `${b2}.weave.local`)).includes(ipB2),
      5_000,
    );
    assert.ok(await canPing(h1, a1, `${b2}.weave.local`), "a1 pings b2 by name");
    const dns = JSON.parse(ok(await h1.weave(["status", "dns", "--json"]))) as {
      entries: { name: string; address: string; host: string }[];
    };
    assert.ok(
      dns.entries.some((e) => e.name === `${b2}.weave.local.` && e.address === ipB2 && e.host === h2.name),
      "weave status dns names the host a record comes from",
    );
    assert.ok(await canPing(h2, b2, `${a1}.weave.local`), "b2 pings a1 by name");
    // The VXLAN device uses --vxlan-port, learning off, ARP proxy on, local = --advertise-addr.
    const vx = ok(await h1.sh("ip -d link show type vxlan | grep -A2 ' vxw'"));
    assert.match(vx, /dstport 8472/);
    assert.match(vx, new RegExp(`local ${h1.address.replaceAll(".", "\\.")}`));
    assert.match(vx, /nolearning/);
    assert.match(vx, /proxy/);
    // MTU: underlay 1400 - 50; a 1350-byte packet (1322 bytes of ICMP payload) with DF set crosses.
    const mtu = ok(await h1.docker(["exec", a1, "cat", "/sys/class/net/ethwe0/mtu"]));
    assert.equal(mtu, "1350");
    const pid = ok(await h1.docker(["inspect", "-f", "{{.State.Pid}}", a1]));
    // A 1350-byte IP packet (1322 bytes of ICMP payload) with DF set crosses; one byte more does not.
    const dfPing = (size: number) =>
      h1.exec([
        "nsenter",
        `--net=/proc/${pid}/ns/net`,
        "ping",
        "-M",
        "do",
        "-c",
        "2",
        "-W",
        "2",
        "-s",
        String(size),
        ipB2,
      ]);
    ok(await dfPing(1322), "full-size ping with DF");
    fails(await dfPing(1323), "ping one byte over the MTU with DF");
  });

  test("a stopped container's name and forwarding entries disappear from the other hosts within 2 s", async () => {
    const gw = await gatewayOf(h1, "weave");
    const x = await runSleeper(h2, uniq("x"), ["--net=weave"]);
    const ip = await containerIp(h2, x, "weave");
    const mac = await macOf(h2, x, "weave");
    await eventually(
      "host 1 resolves x",
      async () => (await dig(h1, gw, `${x}.weave.local`)).includes(ip),
      5_000,
    );
    await eventually("host 1 has x's FDB entry", async () => (await fdbMacs(h1)).includes(mac), 5_000);
    ok(await h2.docker(["kill", x]));
    const killed = Date.now();
    await eventually(
      "x's name is gone from host 1",
      async () => (await dig(h1, gw, `${x}.weave.local`)).length === 0,
      2_000,
    );
    await eventually(
      "x's FDB entry is gone from host 1",
      async () => !(await fdbMacs(h1)).includes(mac),
      2_000,
    );
    assert.ok(Date.now() - killed <= 2_500, `gone within 2 s (took ${Date.now() - killed} ms)`);
    ok(await h2.docker(["rm", "-f", x]));
  });

  test("a network created on host 1 appears on hosts 2 and 3 within seconds and carries traffic", async () => {
    await weaveNetwork(h1, "--subnet", "10.77.0.0/24", "n1");
    for (const h of [h2, h3]) {
      await eventually(
        `n1 on ${h.name}`,
        async () => (await h.docker(["network", "inspect", "n1"])).code === 0,
        5_000,
      );
      assert.equal(
        ok(await h.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "n1"])),
        "10.77.0.0/24",
      );
    }
    const x2 = await runSleeper(h2, uniq("x"), ["--net=n1"]);
    const x3 = await runSleeper(h3, uniq("x"), ["--net=n1"]);
    const ip3 = await containerIp(h3, x3, "n1");
    await eventually("x2 pings x3 on n1", () => canPing(h2, x2, ip3), 5_000);
    const vnis = (await peersOf(h2)).networks.map((n) => n.vni);
    assert.equal(new Set(vnis).size, vnis.length, `VXLAN IDs are unique: ${vnis.join(" ")}`);
  });

  test("an IPv6 network spans hosts too: addresses, neighbours and names over IPv6", async () => {
    await weaveNetwork(h1, "--ipv6", "--subnet", "10.79.0.0/24", "--subnet", "fd00:79::/64", "n6");
    await eventually(
      "n6 on host 3",
      async () => (await h3.docker(["network", "inspect", "n6"])).code === 0,
      5_000,
    );
    const v1 = await runSleeper(h1, uniq("v"), ["--net=n6"]);
    const v3 = await runSleeper(h3, uniq("v"), ["--net=n6"]);
    const ip6 = ok(
      await h3.docker(["inspect", "-f", '{{(index .NetworkSettings.Networks "n6").GlobalIPv6Address}}', v3]),
    );
    assert.match(ip6, /^fd00:79::/);
    await eventually(
      "v1 pings v3 over IPv6",
      async () => (await h1.docker(["exec", v1, "ping", "-6", "-c", "2", "-W", "1", ip6])).code === 0,
      5_000,
    );
    const gw = await gatewayOf(h3, "n6"); // the same on every host; given explicitly on the copies
    await eventually(
      "host 1's weaveDNS has v3's IPv6 address",
      async () => {
        const res = await h1.sh(`dig +short AAAA +time=2 +tries=1 @${gw} ${v3}.weave.local`);
        return res.stdout.trim().split("\n").includes(ip6);
      },
      5_000,
    );
  });

  test("two networks are isolated from each other across hosts", async () => {
    await weaveNetwork(h2, "n2");
    await eventually(
      "n2 on host 1",
      async () => (await h1.docker(["network", "inspect", "n2"])).code === 0,
      5_000,
    );
    const s1 = ok(await h1.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "n1"]));
    const s2 = ok(await h1.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "n2"]));
    assert.notEqual(s1, s2);
    const y1 = await runSleeper(h1, uniq("y"), ["--net=n2"]);
    const y3 = await runSleeper(h3, uniq("y"), ["--net=n2"]);
    const z3 = await runSleeper(h3, uniq("z"), ["--net=n1"]);
    const ipY1 = await containerIp(h1, y1, "n2");
    await eventually("y3 pings y1 on n2", () => canPing(h3, y3, ipY1), 5_000);
    assert.equal(await canPing(h3, z3, ipY1), false, "a container on n1 does not reach one on n2");
    // Names are isolated across hosts too: y1's name (host 1, n2) is not given to z3 (host 3, n1),
    // at either gateway of host 3; y3 (host 3, n2) gets it.
    const [gw1, gw2] = [await gatewayOf(h3, "n1"), await gatewayOf(h3, "n2")];
    await eventually("y1's name reaches host 3", async () =>
      answersOf(await digFrom(h3, y3, gw2, `${y1}.weave.local`)).includes(ipY1),
    );
    for (const at of [gw1, gw2]) {
      assert.match(await digFrom(h3, z3, at, `${y1}.weave.local`), /status: NXDOMAIN/, `from z3 at ${at}`);
      assert.doesNotMatch(
        await digFrom(h3, z3, at, `-x ${ipY1}`),
        new RegExp(y1),
        `reverse from z3 at ${at}`,
      );
    }
    // The same subnet cannot be taken twice, whichever host asks.
    const clash = fails(
      await h3.docker([
        "network",
        "create",
        "-d",
        "weave",
        "--ipam-driver",
        "weave",
        "--subnet",
        s1,
        "n1bis",
      ]),
    );
    assert.match(clash, /overlaps subnet .* of another network of the cluster/);
  });

  test("concurrent starts on every host never give an address twice (blocks claimed with compare-and-swap)", async () => {
    await weaveNetwork(h1, "--subnet", "10.78.0.0/26", "small");
    for (const h of [h2, h3]) {
      await eventually(
        `small on ${h.name}`,
        async () => (await h.docker(["network", "inspect", "small"])).code === 0,
        5_000,
      );
    }
    const per = 6;
    const started = await Promise.all(
      hosts.flatMap((h) =>
        Array.from({ length: per }, async () => {
          const name = uniq("s");
          ok(
            await h.docker(["run", "-d", "--name", name, "--net=small", TEST_IMAGE, "sleep", "3600"]),
            `run ${name}`,
          );
          return { h, name };
        }),
      ),
    );
    const ips = await Promise.all(started.map(({ h, name }) => containerIp(h, name, "small")));
    assert.equal(ips.length, 3 * per);
    assert.equal(new Set(ips).size, ips.length, `no duplicate: ${ips.sort().join(" ")}`);
    const a = started[0];
    const b = started[started.length - 1];
    assert.ok(a && b);
    assert.ok(await canPing(a.h, a.name, ips[ips.length - 1] ?? ""), "first reaches last across hosts");
  });

  test("--ip is refused in another host's block, naming that host, and given in a free block", async () => {
    const ip2 = await containerIp(
      h2,
      ok(await h2.docker(["ps", "-q", "-l", "--filter", "network=n1"])),
      "n1",
    );
    const refused = fails(await h1.docker(["run", "-d", "--net=n1", "--ip", ip2, TEST_IMAGE, "sleep", "60"]));
    assert.match(refused, new RegExp(`block .* of host ${h2.name}`));
    const fixed = await runSleeper(h1, uniq("f"), ["--net=n1", "--ip", "10.77.0.200"]);
    assert.equal(await containerIp(h1, fixed, "n1"), "10.77.0.200");
  });

  test("docker network rm on any host removes the network from the cluster; each host drops its copy once its containers are gone", async () => {
    const containersOn = async (h: Host) =>
      ok(await h.docker(["ps", "-aq", "--filter", "network=n2"]))
        .split("\n")
        .filter((x) => x);
    const h3Containers = await containersOn(h3);
    if (h3Containers.length > 0) ok(await h3.docker(["rm", "-f", ...h3Containers]));
    assert.ok((await containersOn(h1)).length > 0, "host 1 has a container on n2");
    ok(await h3.docker(["network", "rm", "n2"]), "network rm on host 3");
    // Host 2 has no container on it: its copy goes. Host 1 keeps its copy while its container runs.
    await eventually(
      "n2 gone from host 2",
      async () => (await h2.docker(["network", "inspect", "n2"])).code !== 0,
      5_000,
    );
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await h3.docker(["network", "inspect", "n2"])).code, 1, "not created again on host 3");
    assert.equal((await h1.docker(["network", "inspect", "n2"])).code, 0, "kept on host 1 while in use");
    ok(await h1.docker(["rm", "-f", ...(await containersOn(h1))]));
    await eventually(
      "n2 gone from host 1",
      async () => (await h1.docker(["network", "inspect", "n2"])).code !== 0,
      15_000,
    );
    await eventually(
      "n2 gone from the store",
      async () => (await etcd.keys("/weave/v1/networks/n2")).length === 0,
      15_000,
    );
  });

  test("docker network connect --ip --alias on host 2: hosts 1 and 3 answer the alias and reach the address; disconnect takes both away everywhere", async () => {
    await weaveNetwork(h1, "--subnet", "10.76.0.0/24", "cx");
    for (const h of [h2, h3]) {
      await eventually(
        `cx on ${h.name}`,
        async () => (await h.docker(["network", "inspect", "cx"])).code === 0,
        5_000,
      );
    }
    const r1 = await runSleeper(h1, uniq("r"), ["--net=cx"]);
    const r3 = await runSleeper(h3, uniq("r"), ["--net=cx"]);
    const w3 = await runSleeper(h3, uniq("w"), ["--net=weave"]);
    const t2 = await runSleeper(h2, uniq("t"), ["--net=weave"]);
    const gw = await defaultGatewayOf(h1, r1);
    const gwWeave = await gatewayOf(h3, "weave");
    const alias = uniq("svc");
    const ip = "10.76.0.100";
    ok(await h2.docker(["network", "connect", "--ip", ip, "--alias", alias, "cx", t2]), "network connect");
    assert.equal(await containerIp(h2, t2, "cx"), ip);
    const mac = await macOf(h2, t2, "cx");
    for (const [h, r] of [
      [h1, r1],
      [h3, r3],
    ] as const) {
      for (const name of [`${alias}.weave.local`, `${t2}.weave.local`]) {
        await eventually(
          `${h.name}'s weaveDNS answers ${name} on cx`,
          async () => answersOf(await digFrom(h, r, gw, name)).includes(ip),
          5_000,
        );
      }
      await eventually(`${h.name} has t2's FDB entry`, async () => (await fdbMacs(h)).includes(mac), 5_000);
      await eventually(`${r} pings ${ip} on host 2`, () => canPing(h, r, ip), 5_000);
    }
    // The alias is a name on cx only: a container on host 3 that is only on `weave` does not see it.
    assert.match(await digFrom(h3, w3, gwWeave, `${alias}.weave.local`), /status: NXDOMAIN/);

    ok(await h2.docker(["network", "disconnect", "cx", t2]), "network disconnect");
    const disconnected = Date.now();
    for (const [h, r] of [
      [h1, r1],
      [h3, r3],
    ] as const) {
      await eventually(
        `the alias is gone from ${h.name}'s weaveDNS`,
        async () => /status: NXDOMAIN/.test(await digFrom(h, r, gw, `${alias}.weave.local`)),
        2_000,
      );
      assert.match(await digFrom(h, r, gw, `${t2}.weave.local`), /status: NXDOMAIN/);
      await eventually(
        `t2's FDB entry is gone from ${h.name}`,
        async () => !(await fdbMacs(h)).includes(mac),
        2_000,
      );
    }
    const took = Date.now() - disconnected;
    assert.ok(took <= 2_500, `gone from hosts 1 and 3 within 2 s (took ${took} ms)`);
    for (const [h, r] of [
      [h1, r1],
      [h3, r3],
    ] as const) {
      assert.equal(await canPing(h, r, ip), false, `${ip} answers ${r} no more`);
    }
    ok(await h1.docker(["rm", "-f", r1]));
    ok(await h3.docker(["rm", "-f", r3, w3]));
    ok(await h2.docker(["rm", "-f", t2]));
    ok(await h1.docker(["network", "rm", "cx"]));
  });

  test("a multicast sender on host 1 reaches receivers on hosts 2 and 3 of its network, and no container of another network", async (t) => {
    await weaveNetwork(h1, "mc");
    for (const h of [h2, h3]) {
      await eventually(
        `mc on ${h.name}`,
        async () => (await h.docker(["network", "inspect", "mc"])).code === 0,
        5_000,
      );
    }
    const sender = await runSleeper(h1, uniq("ms"), ["--net=mc"]);
    const receivers = [
      { h: h2, net: "mc", name: await runSleeper(h2, uniq("mr"), ["--net=mc"]) },
      { h: h3, net: "mc", name: await runSleeper(h3, uniq("mr"), ["--net=mc"]) },
      { h: h1, net: "weave", name: await runSleeper(h1, uniq("mo"), ["--net=weave"]) },
      { h: h2, net: "weave", name: await runSleeper(h2, uniq("mo"), ["--net=weave"]) },
      { h: h3, net: "weave", name: await runSleeper(h3, uniq("mo"), ["--net=weave"]) },
    ];
    const group = "239.1.2.3";
    const port = "5007";
    const marker = uniq("mcast-");
    // Receivers listen 8 s; the sender sends 20 datagrams, one every 200 ms, once they have started.
    const listening = receivers.map(async (r) => {
      const ip = await containerIp(r.h, r.name, r.net);
      const res = await inNetns(r.h, r.name, ["node", "-e", MCAST_RECEIVER, group, port, ip, marker, "8000"]);
      return Number(ok(res, `multicast receiver in ${r.name}`));
    });
    await sleep(2_000);
    ok(
      await inNetns(h1, sender, ["node", "-e", MCAST_SENDER, group, port, marker, "20"]),
      "multicast sender",
    );
    const counts = await Promise.all(listening);
    const seen = receivers.map((r, i) => `${r.h.name}/${r.net}: ${counts[i]}`).join(", ");
    t.diagnostic(`datagrams received: ${seen}`);
    assert.ok(
      (counts[0] ?? 0) > 0 && (counts[1] ?? 0) > 0,
      `receivers of mc on hosts 2 and 3 got it (${seen})`,
    );
    assert.deepEqual(counts.slice(2), [0, 0, 0], `no receiver on another network got it (${seen})`);
    await Promise.all(
      hosts.map(async (h) => {
        const mine = [
          ...receivers.filter((r) => r.h === h).map((r) => r.name),
          ...(h === h1 ? [sender] : []),
        ];
        ok(await h.docker(["rm", "-f", ...mine]));
      }),
    );
    ok(await h1.docker(["network", "rm", "mc"]));
  });

  test("containers reach outside addresses through masquerading: the outside sees the host's underlay address", async () => {
    // The underlay switch's address stands for the Internet: it has no route to any weave subnet,
    // so an answer comes back only to a masqueraded connection.
    const outside = underlay.gateway;
    const port = "8089";
    const server = run(
      [
        "nsenter",
        `--net=/run/netns/${underlay.name}`,
        "node",
        "-e",
        PEER_ECHO_SERVER,
        outside,
        port,
        "2",
        "30000",
      ],
      { timeoutMs: 40_000 },
    );
    const seen: string[] = [];
    for (const h of [h1, h2]) {
      const c = await runSleeper(h, uniq("out"), ["--net=weave"]);
      const ip = await containerIp(h, c, "weave");
      let answer = "";
      await eventually(
        `a container on ${h.name} reaches ${outside}`,
        async () => {
          const res = await h
            .docker(["exec", c, "wget", "-qO-", `http://${outside}:${port}/`], { timeoutMs: 5_000 })
            .catch(() => undefined);
          answer = res?.code === 0 ? res.stdout.trim() : "";
          return answer !== "";
        },
        15_000,
      );
      assert.equal(answer, h.address, `the outside sees ${h.name}'s address, not the container's ${ip}`);
      seen.push(answer);
      ok(await h.docker(["rm", "-f", c]));
    }
    const log = ok(await server, "outside server");
    assert.deepEqual(log.split("\n"), seen, "the server saw exactly those two sources");
  });

  test("a host that ran alone and joins later gets every network of the cluster and talks to the others", async () => {
    const h4 = await createHost({ name: "mh4" });
    await underlay.attach(h4);
    await h4.loadTestImage();
    // It ran alone first (as scripts/install.sh leaves it): its own default network, no cluster.
    ok(await h4.weave(["launch"]), "weave launch alone");
    const alone = ok(
      await h4.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "weave"]),
    );
    ok(await h4.weave(["stop"]));
    await launch(h4);
    const clusterSubnet = ok(
      await h1.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "weave"]),
    );
    await eventually(
      "the late host's default network is the cluster's",
      async () =>
        /^[0-9a-f]{16}$/.test(
          (
            await h4.docker(["network", "inspect", "-f", '{{index .Options "weave.cluster.id"}}', "weave"])
          ).stdout.trim(),
        ) &&
        (
          await h4.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "weave"])
        ).stdout.trim() === clusterSubnet,
      20_000,
    ).catch(async (e: unknown) => {
      // Say what the late host has and what its weave did, to tell a slow replacement from none.
      const inspect = (await h4.docker(["network", "inspect", "weave"])).stdout;
      const log = (await h4.sh("grep -v '\"debug\"' /var/log/weave.log | tail -30")).stdout;
      console.log(`cluster subnet ${clusterSubnet}\n${inspect}\n${log}`);
      throw e;
    });
    assert.ok(alone !== "", "it had a default network of its own");
    for (const n of ["weave", "n1", "small", "n6"]) {
      await eventually(
        `${n} on the late host`,
        async () => (await h4.docker(["network", "inspect", n])).code === 0,
        10_000,
      );
    }
    assert.equal(
      ok(await h4.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "n1"])),
      "10.77.0.0/24",
    );
    const late = await runSleeper(h4, uniq("late"), [
      "--net=weave",
      ...dnsFlags(await gatewayOf(h4, "weave")),
    ]);
    await eventually(
      "the late host's container reaches b2 by name",
      () => canPing(h4, late, `${b2}.weave.local`),
      10_000,
    );
    ok(await h4.docker(["rm", "-f", late]));
    ok(await h4.weave(["stop"]));
    await h4.destroy();
  });

  test("weave killed (kill -9) and launched again on host 2: no packet lost across hosts, nothing republished twice", async () => {
    const endpointsBefore = (await etcd.keys(`/weave/v1/endpoints/${h2.name}/`)).map((k) => k.key);
    const loss = await lossDuring(h1, a1, ipB2, 8, async () => {
      ok(await h2.sh("kill -9 $(cat /run/weave/weave.pid)"), "kill -9 weave on host 2");
      await sleep(1_000);
      await launch(h2);
    });
    assert.equal(loss, 0, "no packet lost while weave restarted");
    await eventually("host 2 registered again", async () => (await peersOf(h2)).store.reachable, 10_000);
    const endpointsAfter = (await etcd.keys(`/weave/v1/endpoints/${h2.name}/`)).map((k) => k.key);
    assert.deepEqual(endpointsAfter, endpointsBefore, "the same endpoints, once each");
    assert.ok(await canPing(h1, a1, `${b2}.weave.local`), "the name still resolves");
  });

  test("etcd stopped for 30 s: traffic goes on, containers start, DNS answers, status says so; then all converges", async () => {
    const gw = await gatewayOf(h1, "weave");
    let c1 = "";
    const loss = await lossDuring(h1, a1, ipB2, 40, async () => {
      const stoppedAt = Date.now();
      await etcd.stop();
      await eventually(
        "host 1 says the store is unreachable",
        async () => !(await peersOf(h1)).store.reachable,
        20_000,
      );
      assert.match(ok(await h1.weave(["status"])), /store UNREACHABLE/);
      assert.match(ok(await h2.weave(["status", "peers"])), /UNREACHABLE/);
      c1 = await runSleeper(h1, uniq("c"), ["--net=weave", ...dnsFlags(gw)]);
      assert.ok(
        await canPing(h1, c1, await containerIp(h1, a1, "weave")),
        "a new container talks on its host",
      );
      assert.ok(
        (await dig(h1, gw, `${b2}.weave.local`)).includes(ipB2),
        "DNS answers with the last known records",
      );
      await sleep(Math.max(0, 30_000 - (Date.now() - stoppedAt)));
      await etcd.start();
    });
    assert.equal(loss, 0, "no packet lost between hosts while etcd was down");
    for (const h of hosts) {
      await eventually(
        `${h.name} reaches the store again`,
        async () => (await peersOf(h)).store.reachable,
        20_000,
      );
    }
    const ipC1 = await containerIp(h1, c1, "weave");
    await eventually(
      "host 2's weaveDNS learns c1",
      async () => (await dig(h2, gw, `${c1}.weave.local`)).includes(ipC1),
      15_000,
    );
    await eventually("b2 reaches c1", () => canPing(h2, b2, ipC1), 15_000);
  });

  test("a host that stops (weave and dockerd) disappears from the others with its names and FDB entries", async () => {
    const gw = await gatewayOf(h1, "weave");
    const d3 = await runSleeper(h3, uniq("d"), ["--net=weave"]);
    const mac = await macOf(h3, d3, "weave");
    const ip = await containerIp(h3, d3, "weave");
    for (const h of [h1, h2]) {
      await eventually(`${h.name} has d3's FDB entry`, async () => (await fdbMacs(h)).includes(mac), 5_000);
      await eventually(
        `${h.name} resolves d3`,
        async () => (await dig(h, gw, `${d3}.weave.local`)).includes(ip),
        5_000,
      );
    }
    ok(await h3.weave(["stop"]), "weave stop on host 3");
    await h3.stopDockerd();
    // The lease (15 s) expires, then every host drops what host 3 had published within a second.
    for (const h of [h1, h2]) {
      await eventually(
        `d3's FDB entry is gone from ${h.name}`,
        async () => !(await fdbMacs(h)).includes(mac),
        25_000,
      );
      await eventually(
        `d3's name is gone from ${h.name}`,
        async () => (await dig(h, gw, `${d3}.weave.local`)).length === 0,
        3_000,
      );
    }
    const p = await peersOf(h1);
    assert.equal(p.peers.find((x) => x.name === h3.name)?.state, "gone");
    assert.match(
      ok(await h1.weave(["status", "peers"])),
      new RegExp(`${h3.name}\\s+${h3.address.replaceAll(".", "\\.")}\\s+gone`),
    );
  });

  test("weave rmpeer releases the blocks of a host that is gone, and is refused for a live one", async () => {
    assert.match(fails(await h1.weave(["rmpeer", h2.name])), /is registered in the cluster/);
    assert.match(fails(await h1.weave(["rmpeer", h1.name])), /is this host/);
    const before = (await etcd.keys("/weave/v1/blocks/")).filter((k) => k.value.includes(`"${h3.name}"`));
    assert.ok(before.length > 0, "host 3 owned blocks");
    assert.match(
      ok(await h1.weave(["rmpeer", h3.name])),
      new RegExp(`removed peer ${h3.name}: ${before.length} address block`),
    );
    const after = (await etcd.keys("/weave/v1/blocks/")).filter((k) => k.value.includes(`"${h3.name}"`));
    assert.equal(after.length, 0);
  });
});
