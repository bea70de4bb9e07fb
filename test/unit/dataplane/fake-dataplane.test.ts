import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeDataplane } from "../../../src/dataplane/index.js";
import type { BridgeSpec, VethSpec } from "../../../src/dataplane/index.js";

const bridge: BridgeSpec = { name: "weave-a", mtu: 1450, addresses: ["10.32.0.1/24"] };
const veth: VethSpec = {
  hostName: "vwe0000000001",
  peerName: "vwp0000000001",
  bridge: "weave-a",
  mtu: 1450,
  peerMac: "02:42:0a:20:00:02",
};

void describe("FakeDataplane", () => {
  void it("records the commands of the real adapter and is idempotent", async () => {
    const dp = new FakeDataplane();
    await dp.ensureBridge(bridge);
    await dp.ensureBridge(bridge);
    await dp.ensureVeth(veth);
    await dp.ensureVeth(veth);
    assert.deepEqual(dp.commands, [
      "ip link add weave-a mtu 1450 type bridge",
      "ip address add 10.32.0.1/24 dev weave-a",
      "ip link set weave-a up",
      "ip link add vwe0000000001 mtu 1450 type veth peer name vwp0000000001 mtu 1450",
      "ip link set vwp0000000001 address 02:42:0a:20:00:02",
      "ip link set vwe0000000001 master weave-a up",
    ]);
    assert.equal(dp.links.get("vwe0000000001")?.master, "weave-a");
    assert.equal(dp.links.get("vwp0000000001")?.mac, "02:42:0a:20:00:02");
  });

  void it("deletes a veth pair with both ends, and a missing one without error", async () => {
    const dp = new FakeDataplane();
    await dp.ensureBridge(bridge);
    await dp.ensureVeth(veth);
    await dp.deleteVeth(veth.hostName);
    await dp.deleteVeth(veth.hostName);
    assert.equal(dp.links.has(veth.hostName), false);
    assert.equal(dp.links.has(veth.peerName), false);
    assert.deepEqual(dp.commands.slice(-2), ["ip link del vwe0000000001", "ip link del vwe0000000001"]);
  });

  void it("keeps a veth whose peer moved into a container, and detaches ports of a deleted bridge", async () => {
    const dp = new FakeDataplane();
    await dp.ensureBridge(bridge);
    await dp.ensureVeth(veth);
    dp.movePeerOut(veth.peerName);
    const before = dp.commands.length;
    await dp.ensureVeth(veth);
    assert.equal(dp.commands.length, before);
    await dp.deleteBridge("weave-a");
    assert.equal(dp.links.get(veth.hostName)?.master, undefined);
    await dp.ensureBridge(bridge);
    await dp.ensureVeth(veth);
    assert.equal(dp.commands.at(-1), "ip link set vwe0000000001 master weave-a");
  });

  void it("reconciles links: removes weave orphans only, leaves policies to applyPolicies", async () => {
    const dp = new FakeDataplane();
    dp.addLink({ name: "weave-old", kind: "bridge", mtu: 1500, up: true, addresses: [] });
    dp.addLink({ name: "vweorphan", kind: "veth", mtu: 1500, up: true, addresses: [], master: "weave-old" });
    dp.addLink({ name: "docker0", kind: "bridge", mtu: 1500, up: true, addresses: [] });
    const report = await dp.reconcile({
      bridges: [bridge],
      veths: [veth],
      policies: [{ bridge: "weave-a", subnets: ["10.32.0.0/24"], internal: false }],
    });
    assert.deepEqual(report.applied, [
      "delete veth vweorphan",
      "delete bridge weave-old",
      "create bridge weave-a",
      "create veth vwe0000000001",
    ]);
    assert.deepEqual([...dp.links.keys()].sort(), ["docker0", "vwe0000000001", "vwp0000000001", "weave-a"]);
    assert.ok(!dp.commands.includes("nft -f -"), "reconcile does not touch the rules");
    assert.equal(dp.ruleset, "");
    assert.equal(dp.ipForward, false);
    assert.deepEqual((await dp.reconcile({ bridges: [bridge], veths: [veth], policies: [] })).applied, []);
  });

  void it("fails a command on request, with WEAVE_DATAPLANE", async () => {
    const dp = new FakeDataplane();
    dp.failNext("type bridge");
    await assert.rejects(dp.ensureBridge(bridge), { code: "WEAVE_DATAPLANE" });
    await dp.ensureBridge(bridge);
    assert.equal(dp.links.get("weave-a")?.kind, "bridge");
  });

  void it("fails only matching commands, each injected failure once, with the command in the message", async () => {
    const dp = new FakeDataplane();
    dp.failNext(/^ip link add vwe/);
    dp.failNext("nft");
    await dp.ensureBridge(bridge);
    await assert.rejects(dp.ensureVeth(veth), {
      code: "WEAVE_DATAPLANE",
      message: `Command "ip link add vwe0000000001 mtu 1450 type veth peer name vwp0000000001 mtu 1450" failed (injected)`,
    });
    await assert.rejects(dp.applyPolicies([]), { code: "WEAVE_DATAPLANE" });
    await dp.ensureVeth(veth);
    await dp.applyPolicies([]);
    assert.deepEqual(dp.commands.slice(3), [
      "ip link add vwe0000000001 mtu 1450 type veth peer name vwp0000000001 mtu 1450",
      "ip link set vwp0000000001 address 02:42:0a:20:00:02",
      "ip link set vwe0000000001 master weave-a up",
      "nft -f -",
    ]);
  });

  void it("refuses a bad spec before recording anything", async () => {
    const dp = new FakeDataplane();
    await assert.rejects(dp.ensureBridge({ ...bridge, mtu: 67 }), { code: "WEAVE_BAD_REQUEST" });
    await assert.rejects(dp.ensureVeth({ ...veth, peerName: "vwp 1" }), { code: "WEAVE_BAD_REQUEST" });
    assert.deepEqual(dp.commands, []);
  });

  void it("creating a veth on a missing bridge fails like the kernel", async () => {
    const dp = new FakeDataplane();
    await assert.rejects(dp.ensureVeth(veth), { code: "WEAVE_DATAPLANE" });
  });

  void it("returns the host routes it was given", async () => {
    const dp = new FakeDataplane();
    dp.setHostRoutes(["192.168.1.0/24"]);
    assert.deepEqual(await dp.hostRoutes(), ["192.168.1.0/24"]);
  });
});
