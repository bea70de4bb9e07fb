/**
 * Network isolation proven with traffic. Topology, all in scratch namespaces:
 *
 *   a1, a2 --- weave-ta (10.201.1.0/24, gw .1) --+
 *   b1     --- weave-tb (10.201.2.0/24, gw .1) --+-- host ns "h" -- lan0 (192.168.201.1) -- "out" (.2)
 *   i1, i2 --- weave-ti (10.201.3.0/24, gw .1, internal)
 *
 * "out" has no route back to 10.201.0.0/16, so a container reaches it only when masqueraded.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/core/index.js";
import { IprouteDataplane } from "../../src/dataplane/index.js";
import type { NetworkPolicy } from "../../src/dataplane/index.js";
import { assertRunnable, Netns, nsExec, ping, PING_TOOL, rootSkip } from "./helpers/netns.js";

const TOOLS = ["ip", "nft", "nsenter", "sysctl", PING_TOOL];

const NETS = [
  { key: "a", bridge: "weave-ta", net: "10.201.1", internal: false, members: ["a1", "a2"] },
  { key: "b", bridge: "weave-tb", net: "10.201.2", internal: false, members: ["b1"] },
  { key: "i", bridge: "weave-ti", net: "10.201.3", internal: true, members: ["i1", "i2"] },
];

const POLICIES: NetworkPolicy[] = NETS.map((n) => ({
  bridge: n.bridge,
  subnets: [`${n.net}.0/24`],
  internal: n.internal,
  gateways: [`${n.net}.1`],
}));

const ADDR: Record<string, string> = {
  a1: "10.201.1.11",
  a2: "10.201.1.12",
  b1: "10.201.2.11",
  i1: "10.201.3.11",
  i2: "10.201.3.12",
  gwA: "10.201.1.1",
  gwB: "10.201.2.1",
  gwI: "10.201.3.1",
  hostLan: "192.168.201.1",
  out: "192.168.201.2",
};

void describe("network isolation with real traffic (root)", { skip: rootSkip(TOOLS) }, () => {
  const netns = new Netns();
  const ns: Record<string, string> = {};
  let dp: IprouteDataplane;
  const from = (name: string): string => ns[name] ?? name;

  before(async () => {
    assertRunnable(TOOLS);
    ns["h"] = await netns.add("h");
    ns["out"] = await netns.add("out");
    const h = from("h");
    dp = new IprouteDataplane({ exec: nsExec(h), logger: silentLogger });
    await netns.ip(h, `link add lan0 type veth peer name lan1 netns ${from("out")}`);
    await netns.ip(h, "address add 192.168.201.1/24 dev lan0");
    await netns.ip(h, "link set lan0 up");
    await netns.ip(from("out"), "address add 192.168.201.2/24 dev lan1");
    await netns.ip(from("out"), "link set lan1 up");
    let n = 0;
    for (const net of NETS) {
      await dp.ensureBridge({ name: net.bridge, mtu: 1500, addresses: [`${net.net}.1/24`] });
      for (const member of net.members) {
        n++;
        const c = await netns.add(member);
        ns[member] = c;
        const hex = n.toString(16).padStart(10, "0");
        const peer = `vwp${hex}`;
        await dp.ensureVeth({ hostName: `vwe${hex}`, peerName: peer, bridge: net.bridge, mtu: 1500 });
        await netns.ip(h, `link set ${peer} netns ${c}`);
        await netns.ip(c, `address add ${ADDR[member] ?? ""}/24 dev ${peer}`);
        await netns.ip(c, `link set ${peer} up`);
        await netns.ip(c, `route add default via ${net.net}.1`);
      }
    }
  });
  after(() => netns.cleanup());

  async function reaches(src: string, dst: string): Promise<boolean> {
    return ping(from(src), ADDR[dst] ?? dst, 3);
  }
  async function blocked(src: string, dst: string): Promise<boolean> {
    return !(await ping(from(src), ADDR[dst] ?? dst, 1));
  }

  void it("without policies, routing between networks works and nothing is masqueraded (control)", async () => {
    await nsExec(from("h"))("sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    assert.ok(await reaches("a1", "b1"), "a1 -> b1 routes through the host");
    assert.ok(await blocked("a1", "out"), "out has no route back without masquerade");
  });

  void it("applyPolicies enables IPv4 forwarding", async () => {
    await nsExec(from("h"))("sysctl", ["-qw", "net.ipv4.ip_forward=0"]);
    await dp.applyPolicies(POLICIES);
    const res = await nsExec(from("h"))("cat", ["/proc/sys/net/ipv4/ip_forward"]);
    assert.equal(res.stdout.trim(), "1");
  });

  void it("containers on one network reach each other and their gateway", async () => {
    assert.ok(await reaches("a1", "a2"));
    assert.ok(await reaches("a2", "a1"));
    assert.ok(await reaches("a1", "gwA"));
  });

  void it("networks are isolated from each other in both directions", async () => {
    assert.ok(await blocked("a1", "b1"), "a1 -> b1 must be dropped");
    assert.ok(await blocked("b1", "a1"), "b1 -> a1 must be dropped");
    assert.ok(await blocked("b1", "a2"), "b1 -> a2 must be dropped");
  });

  void it("a non-internal network is masqueraded on its way out", async () => {
    assert.ok(await reaches("a1", "out"));
    assert.ok(await reaches("b1", "out"));
    const nat = await nsExec(from("h"))("nft", ["list", "table", "ip", "weave-nat"]);
    assert.match(
      nat.stdout,
      /ip saddr 10\.201\.1\.0\/24 ip daddr != \{ [0-9.-]+ \} oifname != "weave-ta" oifname != "lo" masquerade/,
    );
    assert.match(
      nat.stdout,
      /ip saddr 10\.201\.2\.0\/24 ip daddr != \{ [0-9.-]+ \} oifname != "weave-tb" oifname != "lo" masquerade/,
    );
    assert.doesNotMatch(nat.stdout, /ip saddr 10\.201\.3\./, "internal networks are not masqueraded");
  });

  void it("an internal network reaches its own members and gateway, and nothing else", async () => {
    assert.ok(await reaches("i1", "i2"));
    assert.ok(await reaches("i1", "gwI"));
    assert.ok(await blocked("i1", "gwA"), "another bridge's host address");
    assert.ok(await blocked("i1", "hostLan"), "the host's LAN address");
    assert.ok(await blocked("i1", "a1"), "another network");
    assert.ok(await blocked("a1", "i1"), "into the internal network");
    assert.ok(await blocked("i1", "out"), "the outside");
  });

  void it("with dockerd's FORWARD policy DROP, weave traffic still flows and isolation holds", async (t) => {
    const h = nsExec(from("h"));
    const ipt = await h("iptables", ["-w", "5", "-P", "FORWARD", "DROP"], { check: false });
    if (ipt.code !== 0) {
      if (process.env["CI"] === "true") assert.fail(`iptables unusable: ${ipt.stderr}`);
      t.skip(`iptables unusable here: ${ipt.stderr.trim()}`);
      return;
    }
    await dp.applyPolicies([]);
    const brnf = await h("cat", ["/proc/sys/net/bridge/bridge-nf-call-iptables"], { check: false });
    if (brnf.stdout.trim() === "1") {
      assert.ok(await blocked("a1", "a2"), "control: br_netfilter sends bridged traffic through FORWARD");
    }
    await dp.applyPolicies(POLICIES);
    const listing = await h("iptables", ["-w", "5", "-S", "FORWARD"]);
    assert.match(
      listing.stdout,
      /-A FORWARD -i weave-ta -o weave-ta -m comment --comment "weave:weave-ta" -j ACCEPT/,
    );
    assert.match(
      listing.stdout,
      /-A FORWARD -i weave-ti -o weave-ti -m comment --comment "weave:weave-ti" -j ACCEPT/,
    );
    assert.doesNotMatch(listing.stdout, /-i weave-ti ! -o weave-ti/, "internal networks get no way out");
    assert.ok(await reaches("a1", "a2"));
    assert.ok(await reaches("i1", "i2"));
    assert.ok(await reaches("a1", "out"));
    assert.ok(await blocked("a1", "b1"));
    assert.ok(await blocked("i1", "out"));

    await dp.applyPolicies([]);
    const cleared = await h("iptables", ["-w", "5", "-S", "FORWARD"]);
    assert.doesNotMatch(cleared.stdout, /weave:/);
    const ruleset = await h("nft", ["list", "ruleset"]);
    assert.doesNotMatch(ruleset.stdout, /table inet weave|table ip weave-nat/);
  });
});
