/**
 * IprouteRouted against the real kernel: two scratch "hosts" (namespaces joined by a veth underlay
 * with IPv4 and IPv6 addresses), each with a weave bridge holding the same gateway addresses and one
 * "container" namespace on the same flat subnet, programmed with reconcile on both sides.
 */
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError, silentLogger } from "../../src/core/index.js";
import { IprouteDataplane, IprouteRouted } from "../../src/dataplane/index.js";
import type { RoutedNetwork, RoutedRemote } from "../../src/dataplane/index.js";
import { assertRunnable, Netns, nsExec, ping, PING_TOOL, rootSkip } from "./helpers/netns.js";

const TOOLS = ["ip", "nsenter", "sysctl", PING_TOOL];
const BRIDGE = "weave-rt";
const UNDER = { a: "192.168.252.1", b: "192.168.252.2" };
const UNDER6 = { a: "fd52::1", b: "fd52::2" };
const CONT = { a: { ipv4: "10.40.0.2", ipv6: "fd40::2" }, b: { ipv4: "10.40.0.3", ipv6: "fd40::3" } };
type Host = "a" | "b";

interface Options {
  /** Next hop family for the IPv4 remote (the IPv6 remote always goes via IPv6). */
  v4via?: 4 | 6;
  v6?: boolean;
  extra?: RoutedRemote[];
}

/** What host `me` should hold: the other host's container, via the other host's underlay address. */
function desired(me: Host, { v4via = 4, v6 = false, extra = [] }: Options = {}): RoutedNetwork[] {
  const o: Host = me === "a" ? "b" : "a";
  const remotes: RoutedRemote[] = [{ ip: CONT[o].ipv4, via: v4via === 4 ? UNDER[o] : UNDER6[o] }];
  if (v6) remotes.push({ ip: CONT[o].ipv6, via: UNDER6[o] });
  return [{ bridge: BRIDGE, remotes: [...remotes, ...extra] }];
}

type Json = Record<string, unknown>;
/** Both families, IPv4 containers via the IPv6 underlay too. */
const FULL: Options = { v4via: 6, v6: true };

void describe("IprouteRouted between two scratch hosts (root)", { skip: rootSkip(TOOLS) }, () => {
  const netns = new Netns();
  const ns = { a: "", b: "", ca: "", cb: "" };
  const routed: Partial<Record<Host, IprouteRouted>> = {};
  const rt = (h: Host): IprouteRouted => routed[h] as IprouteRouted;

  before(async () => {
    assertRunnable(TOOLS);
    for (const k of ["a", "b", "ca", "cb"] as const) ns[k] = await netns.add(`rt${k}`);
    await netns.ip(ns.a, `link add ula type veth peer name ulb netns ${ns.b}`);
    for (const h of ["a", "b"] as const) {
      const host = ns[h];
      const [ul, c] = h === "a" ? ["ula", ns.ca] : ["ulb", ns.cb];
      await netns.ip(host, `address add ${UNDER[h]}/24 dev ${ul}`);
      await netns.ip(host, `address add ${UNDER6[h]}/64 dev ${ul} nodad`);
      await netns.ip(host, `link set ${ul} up`);
      const dp = new IprouteDataplane({ exec: nsExec(host), logger: silentLogger });
      await dp.ensureBridge({ name: BRIDGE, mtu: 1500, addresses: ["10.40.0.1/24", "fd40::1/64"] });
      await netns.ip(host, `link add ctr0 type veth peer name eth0 netns ${c}`);
      await netns.ip(host, `link set ctr0 master ${BRIDGE} up`);
      await netns.ip(c, `address add ${CONT[h].ipv4}/24 dev eth0`);
      await netns.ip(c, `address add ${CONT[h].ipv6}/64 dev eth0 nodad`);
      await netns.ip(c, "link set eth0 up");
      await netns.ip(c, "route add default via 10.40.0.1");
      routed[h] = new IprouteRouted({ exec: nsExec(host), logger: silentLogger });
    }
    // Until its link-local address has passed DAD, a host cannot resolve an IPv6 next hop (~2 s).
    for (const n of Object.values(ns)) await untilNoTentative(n);
  });
  after(() => netns.cleanup());

  const json = async (n: string, args: string): Promise<Json[]> =>
    JSON.parse((await netns.ip(n, `-json ${args}`)).stdout || "[]") as Json[];
  const sysctl = async (n: string, key: string): Promise<string> =>
    (await nsExec(n)("sysctl", ["-n", key])).stdout.trim();
  const flush = async (): Promise<void> => {
    for (const n of Object.values(ns)) await netns.ip(n, "neigh flush all");
  };
  /** Weave's routes (both families) as `dst next-hop` text, sorted. */
  const weaveRoutes = async (n: string): Promise<string[]> => {
    const all = [...(await json(n, "route show proto 87")), ...(await json(n, "-6 route show proto 87"))];
    const hop = (r: Json): unknown => r["gateway"] ?? (r["via"] as Json | undefined)?.["host"] ?? r["dev"];
    return all.map((r) => `${String(r["dst"])} ${String(hop(r))}`).sort();
  };
  const proxies = async (n: string): Promise<string[]> =>
    (await json(n, "neigh show proxy")).map((e) => `${String(e["dev"])} ${String(e["dst"])}`).sort();

  /** Round-trip time in ms of one ping from `from` to `to`, or undefined when it got no reply. */
  async function rtt(from: string, to: string): Promise<number | undefined> {
    const [file, pre] = PING_TOOL === "busybox" ? ["busybox", ["ping"]] : ["ping", []];
    const res = await nsExec(from)(file, [...pre, "-c", "1", "-W", "2", to], {
      check: false,
      timeoutMs: 5000,
    });
    const m = /time=([\d.]+) ms/.exec(res.stdout);
    return res.code === 0 && m ? Number(m[1]) : undefined;
  }

  void it("reconcile routes the other host's container, and containers on one /24 reach each other", async () => {
    const report = await rt("a").reconcile(desired("a"));
    assert.deepEqual(report.applied, [
      "set sysctl net.ipv4.neigh.weave-rt.proxy_delay=0",
      "set sysctl net.ipv4.ip_forward=1",
      `set route ${CONT.b.ipv4}/32 via ${UNDER.b}`,
      `add proxy ${CONT.b.ipv4} on ${BRIDGE}`,
    ]);
    await rt("b").reconcile(desired("b"));
    for (const h of ["a", "b"] as const) {
      assert.equal(await sysctl(ns[h], `net.ipv4.neigh.${BRIDGE}.proxy_delay`), "0");
      assert.equal(await sysctl(ns[h], "net.ipv4.ip_forward"), "1");
    }
    assert.deepEqual(await weaveRoutes(ns.a), [`${CONT.b.ipv4} ${UNDER.b}`]);
    assert.deepEqual(await proxies(ns.a), [`${BRIDGE} ${CONT.b.ipv4}`]);
    assert.ok(await ping(ns.ca, CONT.b.ipv4, 3), "ping a -> b");
    assert.ok(await ping(ns.cb, CONT.a.ipv4, 3), "ping b -> a");
  });

  void it("the container sees its peer on-link: no gateway, resolved to its own host's bridge MAC", async () => {
    const [route] = await json(ns.ca, `route get ${CONT.b.ipv4}`);
    assert.equal(route?.["gateway"], undefined);
    assert.equal(route?.["dev"], "eth0");
    const [bridge] = await json(ns.a, `link show dev ${BRIDGE}`);
    const [neigh] = await json(ns.ca, `neigh show ${CONT.b.ipv4} dev eth0`);
    assert.equal(neigh?.["lladdr"], bridge?.["address"]);
  });

  void it("the first packet is answered at once (no proxy delay) and TCP works, unNATed", async () => {
    await flush();
    const first = await rtt(ns.ca, CONT.b.ipv4);
    assert.ok(first !== undefined && first < 300, `first ping took ${first} ms`);
    assert.equal(await tcpHello(ns.cb, ns.ca, CONT.b.ipv4), `hello ${CONT.a.ipv4}`);
  });

  void it("a second reconcile applies nothing; a changed sysctl is set again", async () => {
    for (const h of ["a", "b"] as const) assert.deepEqual((await rt(h).reconcile(desired(h))).applied, []);
    await nsExec(ns.a)("sysctl", ["-qw", `net.ipv4.neigh.${BRIDGE}.proxy_delay=80`]);
    assert.deepEqual((await rt("a").reconcile(desired("a"))).applied, [
      `set sysctl net.ipv4.neigh.${BRIDGE}.proxy_delay=0`,
    ]);
  });

  void it("deletes weave's routes and proxy entries not desired and never touches others", async () => {
    await netns.ip(ns.a, `route add 10.40.0.77/32 via ${UNDER.b} proto 87`);
    await netns.ip(ns.a, `route add 10.40.0.3/32 via ${UNDER.b} proto 87 metric 5`);
    await netns.ip(ns.a, `route add 10.40.0.78/32 via ${UNDER.b} proto static`);
    await netns.ip(ns.a, `neigh add proxy 10.40.0.77 dev ${BRIDGE}`);
    await netns.ip(ns.a, "neigh add proxy 10.40.0.78 dev ula");
    assert.deepEqual((await rt("a").reconcile(desired("a"))).applied, [
      "delete route 10.40.0.3/32",
      "delete route 10.40.0.77/32",
      `delete proxy 10.40.0.77 on ${BRIDGE}`,
    ]);
    assert.deepEqual(await weaveRoutes(ns.a), [`${CONT.b.ipv4} ${UNDER.b}`]);
    assert.deepEqual(await proxies(ns.a), ["ula 10.40.0.78", `${BRIDGE} ${CONT.b.ipv4}`]);
    assert.equal((await json(ns.a, "route show 10.40.0.78")).length, 1, "foreign route kept");
    await netns.ip(ns.a, "route del 10.40.0.78/32 proto static");
    await netns.ip(ns.a, "neigh del proxy 10.40.0.78 dev ula");
  });

  void it("IPv6 containers are routed via the IPv6 underlay, with proxy ND; IPv4 goes via inet6", async () => {
    const report = await rt("a").reconcile(desired("a", FULL));
    assert.deepEqual(report.applied, [
      `set sysctl net.ipv6.conf.${BRIDGE}.proxy_ndp=1`,
      `set sysctl net.ipv6.neigh.${BRIDGE}.proxy_delay=0`,
      "set sysctl net.ipv6.conf.all.forwarding=1",
      `set route ${CONT.b.ipv4}/32 via ${UNDER6.b}`,
      `set route ${CONT.b.ipv6}/128 via ${UNDER6.b}`,
      `add proxy ${CONT.b.ipv6} on ${BRIDGE}`,
    ]);
    await rt("b").reconcile(desired("b", FULL));
    const [v4] = await json(ns.a, "route show proto 87");
    assert.deepEqual(v4?.["via"], { family: "inet6", host: UNDER6.b });
    await flush();
    const first = await rtt(ns.ca, CONT.b.ipv6);
    assert.ok(first !== undefined && first < 300, `first IPv6 ping took ${first} ms`);
    assert.ok(await ping(ns.ca, CONT.b.ipv4, 3), "IPv4 ping over the IPv6 underlay");
    assert.equal(await tcpHello(ns.cb, ns.ca, CONT.b.ipv6), `hello ${CONT.a.ipv6}`);
    const [bridge] = await json(ns.a, `link show dev ${BRIDGE}`);
    const [neigh] = await json(ns.ca, `-6 neigh show ${CONT.b.ipv6} dev eth0`);
    assert.equal(neigh?.["lladdr"], bridge?.["address"]);
    assert.deepEqual((await rt("a").reconcile(desired("a", FULL))).applied, []);
  });

  void it("the kernel has no IPv6 routes via IPv4 next hops, so such a remote is refused", async () => {
    const res = await nsExec(ns.a)(
      "ip",
      ["-6", "route", "replace", "fd40::9/128", "via", "inet", UNDER.b, "proto", "87"],
      { check: false },
    );
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /IPv6 does not support RTA_VIA/);
    const extra = [{ ip: "fd40::9", via: UNDER.b }];
    await assert.rejects(rt("a").reconcile(desired("a", { extra })), (err: unknown) =>
      isWeaveError(err, "WEAVE_BAD_REQUEST"),
    );
  });

  void it("a remote routed by device (as over WireGuard) gets a device route, gone with the device", async () => {
    await netns.ip(ns.a, "tuntap add dev wvgtest0 mode tun");
    await netns.ip(ns.a, "link set wvgtest0 up");
    const extra = [
      { ip: "10.40.0.9", dev: "wvgtest0" },
      { ip: "fd40::9", dev: "wvgtest0" },
    ];
    const report = await rt("a").reconcile(desired("a", { ...FULL, extra }));
    assert.deepEqual(report.applied, [
      "set route 10.40.0.9/32 dev wvgtest0",
      "set route fd40::9/128 dev wvgtest0",
      `add proxy 10.40.0.9 on ${BRIDGE}`,
      `add proxy fd40::9 on ${BRIDGE}`,
    ]);
    assert.ok((await weaveRoutes(ns.a)).includes("10.40.0.9 wvgtest0"));
    assert.ok((await weaveRoutes(ns.a)).includes("fd40::9 wvgtest0"));
    assert.deepEqual((await rt("a").reconcile(desired("a", { ...FULL, extra }))).applied, []);
    // The kernel drops a device's routes with it: a reconcile cannot put them back.
    await netns.ip(ns.a, "link del wvgtest0");
    assert.equal((await weaveRoutes(ns.a)).filter((r) => r.endsWith("wvgtest0")).length, 0);
    await assert.rejects(rt("a").reconcile(desired("a", { ...FULL, extra })), (err: unknown) =>
      isWeaveError(err, "WEAVE_DATAPLANE"),
    );
    const cleanup = await rt("a").reconcile(desired("a", FULL));
    assert.deepEqual(cleanup.applied.sort(), [
      `delete proxy 10.40.0.9 on ${BRIDGE}`,
      `delete proxy fd40::9 on ${BRIDGE}`,
    ]);
  });

  void it("removing a remote removes its route and proxy entry; the container is unreachable", async () => {
    const report = await rt("a").reconcile(desired("a", FULL).map(withoutV4));
    assert.deepEqual(report.applied, [
      `delete route ${CONT.b.ipv4}/32`,
      `delete proxy ${CONT.b.ipv4} on ${BRIDGE}`,
    ]);
    assert.deepEqual(await weaveRoutes(ns.a), [`${CONT.b.ipv6} ${UNDER6.b}`]);
    assert.deepEqual(await proxies(ns.a), [`${BRIDGE} ${CONT.b.ipv6}`]);
    await flush();
    assert.equal(await ping(ns.ca, CONT.b.ipv4, 1), false);
    assert.deepEqual((await rt("a").reconcile([])).applied, [
      `delete route ${CONT.b.ipv6}/128`,
      `delete proxy ${CONT.b.ipv6} on ${BRIDGE}`,
    ]);
    assert.deepEqual(await weaveRoutes(ns.a), []);
    assert.deepEqual(await proxies(ns.a), []);
  });
});

/** Waits (up to 5 s) until no IPv6 address in namespace `n` is tentative (DAD done). */
async function untilNoTentative(n: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const res = await nsExec(n)("ip", ["-json", "-6", "address", "show", "tentative"]);
    if ((JSON.parse(res.stdout || "[]") as unknown[]).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`IPv6 addresses in ${n} stay tentative`);
}

/** The network without its IPv4 remotes. */
function withoutV4(net: RoutedNetwork): RoutedNetwork {
  return { ...net, remotes: net.remotes.filter((r) => r.ip.includes(":")) };
}

/**
 * Starts a one-shot TCP server on `ip`:5000 inside `serverNs` (a node process, ended by its PID
 * afterwards) that answers `hello <client address>`, connects from `clientNs` and returns the answer.
 */
async function tcpHello(serverNs: string, clientNs: string, ip: string): Promise<string> {
  const server =
    'const s=require("node:net").createServer(c=>{c.end("hello "+c.remoteAddress);s.close()});' +
    `s.listen(5000,${JSON.stringify(ip)},()=>console.log("ready"))`;
  const child = spawn("nsenter", [`--net=/run/netns/${serverNs}`, "--", process.execPath, "-e", server], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding("utf8").on("data", (d: string) => d.includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`TCP server exited (${code})`)));
      setTimeout(() => reject(new Error("TCP server did not start")), 5000).unref();
    });
    const client =
      `const c=require("node:net").connect(5000,${JSON.stringify(ip)});let d="";` +
      'c.on("data",x=>d+=x);c.on("end",()=>process.stdout.write(d));' +
      'c.on("error",e=>{console.error(e.message);process.exit(1)})';
    const res = await nsExec(clientNs)(process.execPath, ["-e", client], { timeoutMs: 5000 });
    return res.stdout;
  } finally {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid);
  }
}
