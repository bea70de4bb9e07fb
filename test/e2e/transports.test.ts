/**
 * weave's transports between hosts, end to end (issue 12 contract, see docs): two underlay segments
 * (192.168.199.0/24 and 192.168.198.0/24, MTU 1400) joined by a router, etcd on the first segment's
 * switch, hosts 1 and 2 on segment 1 and host 3 on segment 2, weave launched with its defaults
 * (`--transport auto`): hosts 1 and 2 route to each other without encapsulation, both use VXLAN to
 * host 3.
 *
 * First block (one cluster shared by its tests, in order): what status, metrics and the kernel say
 * about each peer's transport; ping, TCP and weaveDNS names between containers on all three hosts
 * (routed traffic crosses the wire with the containers' own addresses, VXLAN to host 3 in UDP 4789);
 * two networks isolated across the routed and the VXLAN pair; full-size packets with DF on each path
 * and one byte more refused; weave killed (-9) and launched again on host 1 with pings going on.
 *
 * Second block: the same layout launched with `--password-file` (WireGuard, wireguard-go here):
 * status shows each peer encrypted with a handshake; a capture on segment 1 while containers send a
 * marker over TCP and UDP holds only WireGuard UDP between hosts and etcd's TCP, and not the marker;
 * a restart keeps the host's public key; `weave rotate-key` during iperf3 runs breaks no connection;
 * a fourth host with a wrong password (then with none) reaches nothing and every side says "mismatch".
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { createHost, destroyAll, requireE2E } from "./harness/index.js";
import { dnsFlags, gatewayOf } from "./deploy-lib.js";
import { checkClusterPage } from "./status-cluster-check.js";
import { canPing, containerIp, eventually, fails, ok, runSleeper, uniq, weaveNetwork } from "./lib.js";
import {
  type Cluster,
  MTU,
  captureDuring,
  converged,
  defaultNetworkEverywhere,
  expectedTransport,
  makeCluster,
  metricLines,
  metricsOf,
} from "./transports-cluster.js";
import {
  MARKER_CLIENT,
  MARKER_SERVER,
  background,
  type Packet,
  dfPing,
  inContainer,
  httpGet,
  lastAnswered,
  lostPackets,
  mtuTowards,
  peerIn,
  peersOf,
  pingLog,
  serveText,
} from "./transports-lib.js";

const skip = requireE2E(["etcd", "ping", "dig", "node", "tcpdump", "iperf3", "wireguard-go", "wg"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void describe("transports: routed within a segment, VXLAN across a router (auto)", { skip }, () => {
  let c: Cluster;
  let h1: Host;
  let h2: Host;
  let h3: Host;
  const names: string[] = [];
  const ips: string[] = [];

  before(async () => {
    c = await makeCluster(["tr1", "tr2", "tr3"]);
    [h1, h2, h3] = c.hosts;
    await Promise.all(c.hosts.map((h) => c.launch(h)));
    await defaultNetworkEverywhere(c.hosts);
  });
  after(() => destroyAll());

  test("status, metrics and the kernel say routed to the host on the same segment, VXLAN to the other", async () => {
    for (const h of c.hosts) {
      const json = await converged(h, c.hosts);
      assert.equal(json.encryption.enabled, false);
      for (const o of c.hosts) {
        const p = peerIn(json, o.name);
        if (o === h) {
          assert.equal(p.transport, null, `${h.name} on itself`);
          continue;
        }
        const want = expectedTransport(c.hosts, h, o);
        assert.equal(p.transport, want, `${h.name} to ${o.name}`);
        assert.equal(p.encryption, "none");
        assert.equal(p.handshakeAgeS, null);
        assert.equal(p.problem, "");
      }
    }
    assert.match(ok(await h1.weave(["status"])), /encryption: off/);
    const table = ok(await h1.weave(["status", "peers"]));
    assert.match(table, /PEER\s+ADDRESS\s+STATE\s+TRANSPORT\s+ENCRYPTION\s+MTU\s+HANDSHAKE\s+LAST SEEN/);
    assert.match(
      table,
      new RegExp(`${h2.name}\\s+${h2.address.replaceAll(".", "\\.")}\\s+alive\\s+routed\\s+none`),
    );
    assert.match(
      table,
      new RegExp(`${h3.name}\\s+${h3.address.replaceAll(".", "\\.")}\\s+alive\\s+vxlan\\s+none`),
    );
    const metrics = await metricsOf(h1);
    for (const [peer, transport] of [
      [h2.name, "routed"],
      [h3.name, "vxlan"],
    ] as const) {
      const info = metricLines(metrics, "weave_peer_info", { peer, transport, encryption: "none" });
      assert.equal(info.length, 1, `weave_peer_info for ${peer}:\n${metrics}`);
      assert.match(info[0] ?? "", / 1$/);
      assert.match(metricLines(metrics, "weave_peer_up", { peer })[0] ?? "", / 1$/, `weave_peer_up ${peer}`);
      assert.equal(metricLines(metrics, "weave_peer_mtu_bytes", { peer }).length, 1);
    }
    assert.match(fails(await h1.weave(["rotate-key"]), "rotate-key without a password"), /encryption/i);
  });

  test("the status page draws the cluster: each peer with its transport and encryption (headless Chromium)", async () => {
    await checkClusterPage(h1, {
      peers: [
        { name: h2.name, transport: "routed", encryption: "none" },
        { name: h3.name, transport: "vxlan", encryption: "none" },
      ],
    });
  });

  test("containers on all three hosts talk by address, TCP and weaveDNS name; routed packets carry the containers' addresses on the wire", async () => {
    const gw = await gatewayOf(h1, "weave");
    for (const [i, h] of c.hosts.entries()) {
      names.push(await runSleeper(h, uniq(`c${i + 1}`), ["--net=weave", ...dnsFlags(gw)]));
      ips.push(await containerIp(h, names[i] ?? "", "weave"));
      await serveText(h, names[i] ?? "", `hello from ${names[i]}`);
    }
    const [ip2, ip3] = [ips[1] ?? "", ips[2] ?? ""];
    await eventually(
      "host 1 routes host 2's container (proto 87) and not host 3's",
      async () => {
        const out = (await h1.exec(["ip", "route", "show", "proto", "87"])).stdout;
        const routes = out.split("\n").map((l) => l.trim().split(/\s+/));
        const to = (ip: string) => routes.find((r) => r[0] === ip || r[0] === `${ip}/32`);
        return to(ip2)?.slice(1, 3).join(" ") === `via ${h2.address}` && to(ip3) === undefined;
      },
      10_000,
    );
    for (const [i, from] of c.hosts.entries()) {
      for (const [j] of c.hosts.entries()) {
        if (i === j) continue;
        const [src, dst] = [names[i] ?? "", names[j] ?? ""];
        await eventually(
          `${src} pings ${dst}.weave.local`,
          () => canPing(from, src, `${dst}.weave.local`),
          10_000,
        );
        assert.ok(await canPing(from, src, ips[j] ?? ""), `${src} pings ${ips[j]}`);
        assert.match(await httpGet(from, src, `${dst}.weave.local`), new RegExp(`hello from ${dst}`));
      }
    }
    const { packets } = await captureDuring(c.seg1, async () => {
      for (const ip of [ip2, ip3])
        ok(await h1.docker(["exec", names[0] ?? "", "ping", "-c", "3", "-i", "0.2", ip]));
    });
    const plain = packets.filter((p) => p.proto === "ICMP" && p.src === ips[0] && p.dst === ip2);
    assert.ok(plain.length >= 3, "host 1 to host 2: plain ICMP between the containers on the wire");
    const vx = (a: string, b: string) =>
      packets.filter((p) => p.proto === "UDP" && p.dport === 4789 && p.src === a && p.dst === b);
    assert.ok(vx(h1.address, h3.address).length >= 3, "host 1 to host 3: VXLAN (UDP 4789)");
    // Routed peers still share the network's broadcast and multicast by VXLAN (the bridges' IPv6
    // router solicitations, say: 78 bytes), never the containers' unicast: an encapsulated ping of
    // 84 bytes would be 106 (VXLAN 8 + Ethernet 14).
    const big = vx(h1.address, h2.address).filter(
      (p) => Number(/length (\d+)/.exec(p.line)?.[1] ?? 0) >= 106,
    );
    assert.deepEqual(big, [], "no container unicast by VXLAN between hosts 1 and 2");
    assert.ok(
      !packets.some((p) => p.proto === "ICMP" && p.dst === ip3),
      "host 3's container only inside VXLAN",
    );
  });

  test("two networks stay isolated across the routed pair and across the VXLAN pair", async () => {
    await weaveNetwork(h1, "--subnet", "10.81.0.0/24", "tx");
    await weaveNetwork(h1, "--subnet", "10.82.0.0/24", "ty");
    for (const h of [h2, h3]) {
      for (const n of ["tx", "ty"]) {
        await eventually(
          `${n} on ${h.name}`,
          async () => (await h.docker(["network", "inspect", n])).code === 0,
          10_000,
        );
      }
    }
    const x1 = await runSleeper(h1, uniq("x1"), ["--net=tx"]);
    await serveText(h1, x1, `hello from ${x1}`);
    const ipX1 = await containerIp(h1, x1, "tx");
    for (const h of [h2, h3]) {
      const x = await runSleeper(h, uniq("x"), ["--net=tx"]);
      const y = await runSleeper(h, uniq("y"), ["--net=ty"]);
      const ipY = await containerIp(h, y, "ty");
      const pair = `${h1.name}-${h.name} (${expectedTransport(c.hosts, h1, h)})`;
      await eventually(`${x} (tx, ${h.name}) pings x1`, () => canPing(h, x, ipX1), 10_000);
      assert.match(await httpGet(h, x, ipX1), /hello from/, `TCP within tx over ${pair}`);
      assert.equal(await canPing(h, y, ipX1), false, `ty on ${h.name} does not reach tx on host 1 (${pair})`);
      assert.equal(await httpGet(h, y, ipX1), "", `no TCP from ty to tx (${pair})`);
      assert.equal(
        await canPing(h1, x1, ipY),
        false,
        `tx on host 1 does not reach ty on ${h.name} (${pair})`,
      );
    }
  });

  test("full-size packets with DF cross every path and one byte more is refused", async () => {
    const paths = [
      [h1, 0, 1],
      [h1, 0, 2],
      [h2, 1, 2],
    ] as const;
    for (const [h, i, j] of paths) {
      const [src, ip] = [names[i] ?? "", ips[j] ?? ""];
      const mtu = await mtuTowards(h, src, ip);
      assert.equal(mtu, MTU - 50, `default container MTU with --transport auto (VXLAN overhead)`);
      const peer = peerIn(await peersOf(h), c.hosts[j]?.name ?? "");
      assert.equal(peer.mtu, mtu, `status gives the largest packet to ${peer.name}`);
      ok(await dfPing(h, src, ip, mtu - 28), `${src} -> ${ip}: ${mtu}-byte packet with DF`);
      fails(await dfPing(h, src, ip, mtu - 27), `${src} -> ${ip}: ${mtu + 1}-byte packet with DF`);
    }
  });

  test("weave killed (-9) and launched again on host 1: pings to hosts 2 and 3 lose nothing outside the restart", async (t) => {
    const src = names[0] ?? "";
    const logs = background(Promise.all([ips[1], ips[2]].map((ip) => pingLog(h1, src, ip ?? "", 75, 200))));
    await sleep(1_500);
    const killedAt = Date.now();
    ok(await h1.sh("kill -9 $(cat /run/weave/weave.pid)"), "kill -9 weave on host 1");
    await sleep(500);
    await c.launch(h1);
    const upAt = Date.now();
    for (const [k, log] of (await logs).entries()) {
      const lost = lostPackets(log);
      t.diagnostic(
        `to host ${k + 2}: ${lost.length} lost (seq ${lost.map((l) => l.seq).join(",")}), launch took ${upAt - killedAt} ms`,
      );
      const outside = lost.filter((l) => l.sentAt < killedAt - 300 || l.sentAt > upAt + 2_000);
      assert.deepEqual(outside, [], `to host ${k + 2}: losses outside the restart window`);
      assert.ok(lastAnswered(log) > upAt + 2_000, `to host ${k + 2}: answered after the restart`);
    }
    await converged(h1, c.hosts);
  });
});

/** WireGuard's UDP port (the default of --wireguard-port). */
const WG_PORT = 51820;
/** `--password-file` inside every host (written by the test). */
const PW_FILE = "/etc/docker/weave.pw";

async function writePassword(h: Host, password: string): Promise<void> {
  ok(await h.sh(`umask 077 && printf %s '${password}' > ${PW_FILE}`), `password file on ${h.name}`);
}

/** The public keys of the peers of WireGuard device `dev` on `h`, as `wg` reports them. */
async function wgPeerKeys(h: Host, dev: string): Promise<string[]> {
  return ok(await h.exec(["wg", "show", dev, "peers"]), `wg show ${dev} peers`)
    .split("\n")
    .filter(Boolean);
}

void describe("transports with a password: WireGuard between every pair", { skip }, () => {
  let c: Cluster;
  let e1: Host;
  let e2: Host;
  let e3: Host;
  const names: string[] = [];
  const ips: string[] = [];
  const password = randomBytes(12).toString("hex");
  const launch = (h: Host) => c.launch(h, ["--password-file", PW_FILE]);

  before(async () => {
    c = await makeCluster(["wg1", "wg2", "wg3"]);
    [e1, e2, e3] = c.hosts;
    for (const h of c.hosts) await writePassword(h, password);
    await Promise.all(c.hosts.map(launch));
    await defaultNetworkEverywhere(c.hosts);
    const gw = await gatewayOf(e1, "weave");
    for (const [i, h] of c.hosts.entries()) {
      names.push(await runSleeper(h, uniq(`w${i + 1}`), ["--net=weave", ...dnsFlags(gw)]));
      ips.push(await containerIp(h, names[i] ?? "", "weave"));
      await serveText(h, names[i] ?? "", `hello from ${names[i]}`);
    }
  });
  after(() => destroyAll());

  /** Every container pings every other one (which also makes the WireGuard handshakes). */
  const allTalk = async () => {
    for (const [i, h] of c.hosts.entries()) {
      for (const [j] of c.hosts.entries()) {
        if (i === j) continue;
        const what = `${names[i]} (${h.name}) pings ${names[j]}`;
        await eventually(what, () => canPing(h, names[i] ?? "", ips[j] ?? ""), 20_000);
      }
    }
  };

  test("every peer is encrypted (wireguard-go), with a handshake, and the MTU leaves room for it", async () => {
    await allTalk();
    const keys = new Map<Host, string>();
    for (const h of c.hosts) {
      const json = await converged(h, c.hosts);
      const enc = json.encryption;
      assert.equal(enc.enabled, true);
      assert.equal(enc.implementation, "wireguard-go");
      assert.match(enc.interface ?? "", /^wvg[0-9a-f]{8}$/);
      assert.match(enc.publicKey ?? "", /^[A-Za-z0-9+/]{43}=$/);
      assert.equal(enc.port, WG_PORT);
      keys.set(h, enc.publicKey ?? "");
      const dev = enc.interface ?? "";
      assert.equal(ok(await h.exec(["wg", "show", dev, "listen-port"])), String(WG_PORT));
      for (const o of c.hosts) {
        if (o === h) continue;
        const p = peerIn(json, o.name);
        assert.equal(p.transport, expectedTransport(c.hosts, h, o), `${h.name} to ${o.name}`);
        assert.equal(p.encryption, "wireguard", `${h.name} to ${o.name}`);
        assert.ok(
          p.handshakeAgeS !== null && p.handshakeAgeS >= 0 && p.handshakeAgeS < 180,
          `handshake ${h.name}-${o.name}`,
        );
        assert.equal(p.up, true);
        assert.equal(p.problem, "");
      }
      assert.match(ok(await h.weave(["status"])), /encryption: wireguard \(wireguard-go\)/);
    }
    assert.equal(new Set(keys.values()).size, 3, "one key pair per host");
    const dev1 = (await peersOf(e1)).encryption.interface ?? "";
    assert.deepEqual((await wgPeerKeys(e1, dev1)).sort(), [keys.get(e2), keys.get(e3)].sort());
    const metrics = await metricsOf(e1);
    for (const o of [e2, e3]) {
      const want = { peer: o.name, transport: expectedTransport(c.hosts, e1, o), encryption: "wireguard" };
      assert.equal(metricLines(metrics, "weave_peer_info", want).length, 1, `weave_peer_info ${o.name}`);
      assert.equal(metricLines(metrics, "weave_wireguard_handshake_age_seconds", { peer: o.name }).length, 1);
    }
    // Default MTU with a password and --transport auto: VXLAN inside WireGuard (130 bytes).
    for (const [h, i, j] of [
      [e1, 0, 1],
      [e1, 0, 2],
      [e2, 1, 2],
    ] as const) {
      const [src, ip] = [names[i] ?? "", ips[j] ?? ""];
      const mtu = await mtuTowards(h, src, ip);
      assert.equal(mtu, MTU - 130);
      assert.equal(peerIn(await peersOf(h), c.hosts[j]?.name ?? "").mtu, mtu);
      ok(await dfPing(h, src, ip, mtu - 28), `${src} -> ${ip}: ${mtu}-byte packet with DF`);
      fails(await dfPing(h, src, ip, mtu - 27), `${src} -> ${ip}: ${mtu + 1}-byte packet with DF`);
    }
  });

  test("the status page draws every peer as encrypted (headless Chromium)", async () => {
    await checkClusterPage(e3, {
      peers: [
        { name: e1.name, transport: "vxlan", encryption: "wireguard" },
        { name: e2.name, transport: "vxlan", encryption: "wireguard" },
      ],
    });
  });

  test("on the wire: only WireGuard between hosts and etcd's TCP, no VXLAN, no ICMP, and never the marker", async () => {
    const marker = `weave-marker-${randomBytes(12).toString("hex")}`;
    const [c1, c2, c3] = names as [string, string, string];
    const hostAddrs = new Set(c.hosts.map((h) => h.address));
    let seen: { tcp: Record<string, number>; udp: Record<string, number> } = { tcp: {}, udp: {} };
    const { packets, bytes } = await captureDuring(c.seg1, async () => {
      const server = background(inContainer(e1, c1, ["node", "-e", MARKER_SERVER, "7070", marker, "10000"]));
      await eventually("the marker server listens", async () =>
        /:7070\b/.test((await inContainer(e1, c1, ["ss", "-lntH"])).stdout),
      );
      const clients = background(
        Promise.all([
          inContainer(e2, c2, ["node", "-e", MARKER_CLIENT, ips[0] ?? "", "7070", marker]),
          inContainer(e3, c3, ["node", "-e", MARKER_CLIENT, ips[0] ?? "", "7070", marker]),
        ]),
      );
      for (const [h, from, to] of [
        [e2, c2, 0],
        [e3, c3, 0],
        [e2, c2, 2],
      ] as const) {
        assert.ok(await canPing(h, from, ips[to] ?? ""), `${from} pings ${ips[to]}`);
        assert.match(await httpGet(h, from, ips[to] ?? ""), /hello from/);
      }
      for (const res of await clients) ok(res, "marker client");
      seen = JSON.parse(
        ok(await server, "marker server")
          .split("\n")
          .pop() ?? "{}",
      ) as typeof seen;
    });
    for (const ip of [ips[1] ?? "", ips[2] ?? ""]) {
      assert.ok((seen.tcp[ip] ?? 0) >= 1, `the marker came over TCP from ${ip}: ${JSON.stringify(seen)}`);
      assert.ok((seen.udp[ip] ?? 0) >= 1, `the marker came over UDP from ${ip}: ${JSON.stringify(seen)}`);
    }
    const isWg = (p: Packet) =>
      p.proto === "UDP" &&
      (p.sport === WG_PORT || p.dport === WG_PORT) &&
      hostAddrs.has(p.src) &&
      hostAddrs.has(p.dst);
    const etcdAt = c.seg1.gateway;
    const isEtcd = (p: Packet) =>
      p.proto === "tcp" &&
      ((p.dst === etcdAt && p.dport === 2379 && hostAddrs.has(p.src)) ||
        (p.src === etcdAt && p.sport === 2379 && hostAddrs.has(p.dst)));
    // IPv6 link-local housekeeping (router solicitations, MLD) of the underlay interfaces is fine.
    const isLinkLocal = (p: Packet) => p.family === 6 && (p.src.startsWith("fe80:") || p.src === "::");
    for (const [a, b] of [
      [e1, e2],
      [e1, e3],
      [e2, e3],
    ] as const) {
      const between = packets.filter(
        (p) => isWg(p) && [a.address, b.address].includes(p.src) && [a.address, b.address].includes(p.dst),
      );
      assert.ok(between.length > 0, `WireGuard between ${a.name} and ${b.name}`);
    }
    assert.deepEqual(
      packets.filter((p) => p.dport === 4789 || p.sport === 4789).map((p) => p.line),
      [],
      "no VXLAN on the wire",
    );
    assert.deepEqual(
      packets.filter((p) => p.proto.startsWith("ICMP") && p.family === 4).map((p) => p.line),
      [],
      "no ICMP",
    );
    const other = packets.filter((p) => !isWg(p) && !isEtcd(p) && !isLinkLocal(p));
    assert.deepEqual(
      other.map((p) => p.line).slice(0, 20),
      [],
      "nothing but WireGuard and etcd between hosts",
    );
    assert.equal(bytes.indexOf(Buffer.from(marker)), -1, "the marker is nowhere in the capture");
  });

  test("weave restarted on host 1 keeps its public key, and traffic comes back", async () => {
    const before = (await peersOf(e1)).encryption.publicKey;
    ok(await e1.weave(["stop"]), "weave stop on host 1");
    await launch(e1);
    await allTalk();
    const json = await converged(e1, c.hosts);
    assert.equal(json.encryption.publicKey, before, "the same public key after a restart");
  });

  test("weave rotate-key during iperf3 runs: no connection breaks, and the key changes", async (t) => {
    const before = (await peersOf(e1)).encryption.publicKey;
    const c1 = names[0] ?? "";
    const servers = background(
      Promise.all(["5201", "5202"].map((port) => inContainer(e1, c1, ["iperf3", "-s", "-1", "-p", port]))),
    );
    await eventually("both iperf3 servers listen", async () => {
      const out = (await inContainer(e1, c1, ["ss", "-lntH"])).stdout;
      return /:5201\b/.test(out) && /:5202\b/.test(out);
    });
    const iperf = (h: Host, name: string, port: string) =>
      inContainer(h, name, ["iperf3", "-c", ips[0] ?? "", "-p", port, "-t", "10", "-b", "30M", "-J"]);
    const clients = background(
      Promise.all([iperf(e2, names[1] ?? "", "5201"), iperf(e3, names[2] ?? "", "5202")]),
    );
    await sleep(3_000);
    const out = ok(await e1.weave(["rotate-key"]), "weave rotate-key");
    const key = /rotated: new public key (\S+)/.exec(out)?.[1];
    assert.ok(key !== undefined && key !== before, `a new key: ${out}`);
    assert.equal((await peersOf(e1)).encryption.publicKey, key);
    for (const [k, res] of (await clients).entries()) {
      const report = JSON.parse(res.stdout || "{}") as {
        error?: string;
        end?: { sum_received?: { bytes?: number } };
      };
      assert.equal(res.code, 0, `iperf3 client ${k + 1} exited ${res.code}: ${report.error ?? res.stderr}`);
      t.diagnostic(`iperf3 client on host ${k + 2}: ${report.end?.sum_received?.bytes ?? 0} bytes received`);
      assert.ok((report.end?.sum_received?.bytes ?? 0) > 0);
    }
    for (const res of await servers) ok(res, "iperf3 server");
    for (const h of [e2, e3]) {
      const dev = (await peersOf(h)).encryption.interface ?? "";
      await eventually(
        `${h.name} has host 1's new key`,
        async () => (await wgPeerKeys(h, dev)).includes(key),
        10_000,
      );
    }
    await converged(e1, c.hosts);
  });

  test("a host with a wrong password, then with none, reaches nothing and every side says mismatch", async () => {
    const e4 = await createHost({ name: "wg4" });
    await c.seg1.attach(e4);
    await e4.loadTestImage();
    await writePassword(e4, `${password}-wrong`);
    await launch(e4);
    await defaultNetworkEverywhere([e4]);
    const c4 = await runSleeper(e4, uniq("w4"), ["--net=weave"]);
    await serveText(e4, c4, `hello from ${c4}`);
    const ip4 = await containerIp(e4, c4, "weave");
    const mismatch = async (problem: RegExp) => {
      for (const [from, to] of [...c.hosts.map((h) => [e4, h] as const), [e1, e4], [e3, e4]] as const) {
        await eventually(
          `${from.name} sees ${to.name} as a mismatch`,
          async () => {
            const p = (await peersOf(from)).peers.find((x) => x.name === to.name);
            return (
              p?.state === "alive" &&
              p.encryption === "mismatch" &&
              p.up === false &&
              /encryption mismatch/.test(p.problem) &&
              (to !== e4 || problem.test(p.problem))
            );
          },
          30_000,
        );
      }
      // Each failing check waits for its timeout (2-3 s): all at once.
      const others: [Host, string, string][] = [
        [e1, names[0] ?? "", ips[0] ?? ""],
        [e3, names[2] ?? "", ips[2] ?? ""],
      ];
      const checks = others.flatMap(([h, name, ip]) => [
        canPing(e4, c4, ip).then((r) => [r, `${c4} pings ${name}`] as const),
        canPing(h, name, ip4).then((r) => [r, `${name} pings ${c4}`] as const),
        httpGet(e4, c4, ip).then((r) => [r !== "", `TCP from ${c4} to ${name}`] as const),
        httpGet(h, name, ip4).then((r) => [r !== "", `TCP from ${name} to ${c4}`] as const),
      ]);
      for (const [reached, what] of await Promise.all(checks)) assert.equal(reached, false, what);
    };
    await mismatch(/another password/);
    ok(await e4.weave(["stop"]), "weave stop on host 4");
    await c.launch(e4);
    await mismatch(/no password/);
  });
});
