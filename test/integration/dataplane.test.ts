import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/core/index.js";
import { IprouteDataplane } from "../../src/dataplane/index.js";
import type { BridgeSpec, VethSpec } from "../../src/dataplane/index.js";
import { assertRunnable, Netns, nsExec, rootSkip } from "./helpers/netns.js";

const TOOLS = ["ip", "nft", "nsenter"];

interface LinkJson {
  ifname: string;
  mtu: number;
  flags: string[];
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string };
  addr_info: { local: string; prefixlen: number; scope: string }[];
}

void describe("IprouteDataplane in a scratch network namespace (root)", { skip: rootSkip(TOOLS) }, () => {
  const netns = new Netns();
  let ns = "";
  let dp: IprouteDataplane;

  before(async () => {
    assertRunnable(TOOLS);
    ns = await netns.add("dp");
    dp = new IprouteDataplane({ exec: nsExec(ns), logger: silentLogger });
  });
  after(() => netns.cleanup());

  async function links(): Promise<Map<string, LinkJson>> {
    const res = await netns.ip(ns, "-json -details address show");
    const list = JSON.parse(res.stdout) as LinkJson[];
    return new Map(list.map((l) => [l.ifname, l]));
  }

  async function link(name: string): Promise<LinkJson | undefined> {
    return (await links()).get(name);
  }

  function globalAddrs(l: LinkJson | undefined): string[] {
    return (l?.addr_info ?? [])
      .filter((a) => a.scope === "global")
      .map((a) => `${a.local}/${a.prefixlen}`)
      .sort();
  }

  const bridge: BridgeSpec = { name: "weave-t1", mtu: 1400, addresses: ["10.210.0.1/24", "fd10::1/64"] };

  void it("ensureBridge creates a bridge with MTU and addresses, and a second call changes nothing", async () => {
    await dp.ensureBridge(bridge);
    const first = await link("weave-t1");
    assert.equal(first?.linkinfo?.info_kind, "bridge");
    assert.equal(first?.mtu, 1400);
    assert.ok(first?.flags.includes("UP"));
    assert.deepEqual(globalAddrs(first), ["10.210.0.1/24", "fd10::1/64"]);
    await dp.ensureBridge(bridge);
    assert.deepEqual(globalAddrs(await link("weave-t1")), ["10.210.0.1/24", "fd10::1/64"]);
  });

  void it("ensureBridge fixes MTU, addresses and the up flag of an existing bridge", async () => {
    await netns.ip(ns, "link set weave-t1 down");
    await netns.ip(ns, "address add 10.211.0.1/24 dev weave-t1");
    await dp.ensureBridge({ name: "weave-t1", mtu: 1300, addresses: ["10.210.0.1/24"] });
    const l = await link("weave-t1");
    assert.equal(l?.mtu, 1300);
    assert.ok(l?.flags.includes("UP"));
    assert.deepEqual(globalAddrs(l), ["10.210.0.1/24"]);
  });

  const veth: VethSpec = {
    hostName: "vwe00000000a1",
    peerName: "vwp00000000a1",
    bridge: "weave-t1",
    mtu: 1300,
    peerMac: "02:42:0a:d2:00:02",
  };

  void it("ensureVeth creates an attached pair with the peer MAC, and fixes a detached one", async () => {
    await dp.ensureVeth(veth);
    await dp.ensureVeth(veth);
    let host = await link(veth.hostName);
    const peer = await link(veth.peerName);
    assert.equal(host?.master, "weave-t1");
    assert.equal(host?.mtu, 1300);
    assert.ok(host?.flags.includes("UP"));
    assert.equal(peer?.address, "02:42:0a:d2:00:02");
    assert.equal(peer?.mtu, 1300);

    await netns.ip(ns, `link set ${veth.hostName} nomaster`);
    await netns.ip(ns, `link set ${veth.hostName} down`);
    await dp.ensureVeth(veth);
    host = await link(veth.hostName);
    assert.equal(host?.master, "weave-t1");
    assert.ok(host?.flags.includes("UP"));
  });

  void it("a bridge keeps its MAC when a port with a lower MAC joins (the gateway MAC never moves)", async () => {
    const before = (await link("weave-t1"))?.address;
    assert.match(before ?? "", /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    await netns.ip(ns, "link add vwelowmac type veth peer name vwplowmac");
    await netns.ip(ns, "link set vwelowmac address 00:00:00:00:00:01");
    await netns.ip(ns, "link set vwelowmac master weave-t1 up");
    assert.equal((await link("weave-t1"))?.address, before);
    await netns.ip(ns, "link del vwelowmac");
  });

  void it("deleteVeth removes both ends; deleting what is gone succeeds", async () => {
    await dp.deleteVeth(veth.hostName);
    const all = await links();
    assert.equal(all.has(veth.hostName), false);
    assert.equal(all.has(veth.peerName), false);
    await dp.deleteVeth(veth.hostName);
    await dp.deleteBridge("weave-nothere");
  });

  void it("reconcile removes weave-owned orphans only, and is then a no-op", async () => {
    await netns.ip(ns, "link add weave-orphan type bridge");
    await netns.ip(ns, "link add vweorphan type veth peer name vwporphan");
    await netns.ip(ns, "link set vweorphan master weave-orphan");
    await netns.ip(ns, "link add weavex type bridge");
    await netns.ip(ns, "link add keep0 type veth peer name keep1");
    const desired = {
      bridges: [{ name: "weave-t1", mtu: 1300, addresses: ["10.210.0.1/24"] }],
      veths: [veth],
      policies: [{ bridge: "weave-t1", subnets: ["10.210.0.0/24"], internal: false }],
    };
    const report = await dp.reconcile(desired);
    assert.deepEqual(report.applied, [
      "delete veth vweorphan",
      "delete bridge weave-orphan",
      "create veth vwe00000000a1",
    ]);
    const all = await links();
    for (const gone of ["weave-orphan", "vweorphan", "vwporphan"]) assert.equal(all.has(gone), false, gone);
    for (const kept of ["weavex", "keep0", "keep1", "weave-t1", veth.hostName])
      assert.ok(all.has(kept), kept);
    assert.deepEqual((await dp.reconcile(desired)).applied, []);
    await dp.applyPolicies(desired.policies);
    const nat = await nsExec(ns)("nft", ["list", "table", "ip", "weave-nat"]);
    assert.match(
      nat.stdout,
      /ip saddr 10\.210\.0\.0\/24 ip daddr != 10\.210\.0\.0\/24 oifname != "weave-t1" oifname != "lo" masquerade/,
    );
  });

  void it("hostRoutes lists main-table routes except default routes and weave bridges", async () => {
    await netns.ip(ns, "address add 192.168.210.1/24 dev keep0");
    await netns.ip(ns, "link set keep0 up");
    await netns.ip(ns, "route add default via 192.168.210.254");
    const routes = await dp.hostRoutes();
    assert.ok(routes.includes("192.168.210.0/24"), routes.join(","));
    assert.ok(!routes.some((r) => r.startsWith("10.210.")), routes.join(","));
    assert.ok(!routes.includes("default"));
  });

  void it("applyPolicies([]) removes weave's nftables tables", async () => {
    await dp.applyPolicies([]);
    await dp.applyPolicies([]);
    const ruleset = await nsExec(ns)("nft", ["list", "ruleset"]);
    assert.doesNotMatch(ruleset.stdout, /table inet weave|table ip weave-nat/);
  });
});
