import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LINK_MIN_MTU, MAX_MTU } from "../../../src/core/index.js";
import {
  describeOp,
  isWeaveBridgeName,
  isWeaveVethName,
  normalizeCidr,
  planBridge,
  planReconcile,
  planVeth,
  renderOp,
  validateBridgeSpec,
  validateVethSpec,
} from "../../../src/dataplane/index.js";
import type { BridgeSpec, DataplaneOp, ObservedLink, VethSpec } from "../../../src/dataplane/index.js";

const bridge: BridgeSpec = { name: "weave-a", mtu: 1450, addresses: ["10.32.0.1/24"] };
const veth: VethSpec = { hostName: "vwe0000000001", peerName: "vwp0000000001", bridge: "weave-a", mtu: 1450 };

function link(l: Partial<ObservedLink> & { name: string }): ObservedLink {
  return { kind: undefined, mtu: 1500, up: true, addresses: [], ...l };
}

const goodBridge = link({ name: "weave-a", kind: "bridge", mtu: 1450, addresses: ["10.32.0.1/24"] });
const goodHost = link({ name: "vwe0000000001", kind: "veth", mtu: 1450, master: "weave-a" });

void describe("ownership", () => {
  void it("owns weave and weave-* bridges and vwe* veths only", () => {
    assert.equal(isWeaveBridgeName("weave"), true);
    assert.equal(isWeaveBridgeName("weave-1a2b"), true);
    assert.equal(isWeaveBridgeName("weave-"), false);
    assert.equal(isWeaveBridgeName("weavex"), false);
    assert.equal(isWeaveBridgeName("docker0"), false);
    assert.equal(isWeaveVethName("vwe12"), true);
    assert.equal(isWeaveVethName("vwp12"), false);
    assert.equal(isWeaveVethName("veth12"), false);
  });
});

void describe("planBridge", () => {
  void it("renders a create-bridge with the MAC address the adapter chose", () => {
    const [op] = planBridge(bridge, undefined);
    assert.ok(op?.op === "create-bridge");
    assert.equal(
      renderOp({ ...op, mac: "02:11:22:33:44:55" })[0],
      "link add weave-a mtu 1450 address 02:11:22:33:44:55 type bridge",
    );
  });

  void it("creates a missing bridge with MTU, addresses and up", () => {
    const ops = planBridge({ ...bridge, addresses: ["10.32.0.1/24", "fd00::1/64"] }, undefined);
    assert.deepEqual(ops.flatMap(renderOp), [
      "link add weave-a mtu 1450 type bridge",
      "address add 10.32.0.1/24 dev weave-a",
      "address add fd00::1/64 dev weave-a nodad",
      "link set weave-a up",
    ]);
  });

  void it("does nothing when the bridge matches (ignoring the kernel's link-local address)", () => {
    const observed = { ...goodBridge, addresses: ["10.32.0.1/24", "fe80::1/64"] };
    assert.deepEqual(planBridge(bridge, observed), []);
  });

  void it("fixes MTU, addresses and the up flag in place", () => {
    const observed = link({
      name: "weave-a",
      kind: "bridge",
      mtu: 1500,
      up: false,
      addresses: ["10.9.0.1/24"],
    });
    assert.deepEqual(planBridge(bridge, observed).flatMap(renderOp), [
      "link set weave-a mtu 1450",
      "address del 10.9.0.1/24 dev weave-a",
      "address add 10.32.0.1/24 dev weave-a",
      "link set weave-a up",
    ]);
  });

  void it("compares IPv6 addresses in canonical form", () => {
    const observed = { ...goodBridge, addresses: ["10.32.0.1/24", "fd00::1/64"] };
    assert.deepEqual(planBridge({ ...bridge, addresses: ["10.32.0.1/24", "FD00:0:0::1/64"] }, observed), []);
    assert.equal(normalizeCidr("FD00:0:0::1/64"), "fd00::1/64");
    assert.equal(normalizeCidr("10.0.0.1/8"), "10.0.0.1/8");
  });

  void it("replaces a weave-named link of another kind", () => {
    const ops = planBridge(bridge, link({ name: "weave-a", kind: "veth" }));
    assert.deepEqual(
      ops.map((o) => o.op),
      ["delete-bridge", "create-bridge"],
    );
  });
});

void describe("planVeth", () => {
  void it("creates a missing pair, sets the peer MAC and attaches the host end", () => {
    const ops = planVeth({ ...veth, peerMac: "02:42:0a:20:00:02" }, undefined, undefined);
    assert.deepEqual(ops.flatMap(renderOp), [
      "link add vwe0000000001 mtu 1450 type veth peer name vwp0000000001 mtu 1450",
      "link set vwp0000000001 address 02:42:0a:20:00:02",
      "link set vwe0000000001 master weave-a up",
    ]);
  });

  void it("is a no-op for a correct pair whose peer has moved into a container", () => {
    assert.deepEqual(planVeth({ ...veth, peerMac: "02:00:00:00:00:01" }, goodHost, undefined), []);
  });

  void it("fixes master, MTU, up and the local peer's MTU and MAC", () => {
    const host = link({ name: "vwe0000000001", kind: "veth", mtu: 1500, up: false });
    const peer = link({ name: "vwp0000000001", kind: "veth", mtu: 1500, mac: "aa:bb:cc:dd:ee:ff" });
    assert.deepEqual(planVeth({ ...veth, peerMac: "02:00:00:00:00:01" }, host, peer).flatMap(renderOp), [
      "link set vwe0000000001 mtu 1450",
      "link set vwp0000000001 mtu 1450",
      "link set vwp0000000001 address 02:00:00:00:00:01",
      "link set vwe0000000001 master weave-a",
      "link set vwe0000000001 up",
    ]);
  });

  void it("compares MACs case-insensitively", () => {
    const peer = link({ name: "vwp0000000001", kind: "veth", mtu: 1450, mac: "02:ab:00:00:00:01" });
    assert.deepEqual(planVeth({ ...veth, peerMac: "02:AB:00:00:00:01" }, goodHost, peer), []);
  });
});

void describe("planReconcile", () => {
  void it("deletes veths, then bridges, then creates bridges, then veths; leaves foreign links alone", () => {
    const observed = [
      link({ name: "lo" }),
      link({ name: "eth0", kind: undefined }),
      link({ name: "docker0", kind: "bridge" }),
      link({ name: "weavex", kind: "bridge" }),
      link({ name: "weave-old", kind: "bridge" }),
      link({ name: "vweorphan", kind: "veth", master: "weave-old" }),
      link({ name: "vethabc", kind: "veth" }),
      link({ name: "weave-tap", kind: "vxlan" }),
    ];
    const ops = planReconcile({ bridges: [bridge], veths: [veth], policies: [] }, observed);
    assert.deepEqual(ops.map(describeOp), [
      "delete veth vweorphan",
      "delete bridge weave-old",
      "create bridge weave-a",
      "create veth vwe0000000001",
    ]);
  });

  void it("describes every kind of operation by its link", () => {
    const ops: DataplaneOp[] = [
      { op: "create-bridge", spec: bridge },
      { op: "fix-bridge", name: "weave-a", addAddresses: [], delAddresses: [], setUp: true },
      { op: "delete-bridge", name: "weave-b" },
      { op: "create-veth", spec: veth },
      { op: "fix-veth", hostName: "vwe0000000002", setUp: true },
      { op: "delete-veth", name: "vwe0000000003" },
    ];
    assert.deepEqual(ops.map(describeOp), [
      "create bridge weave-a",
      "fix bridge weave-a",
      "delete bridge weave-b",
      "create veth vwe0000000001",
      "fix veth vwe0000000002",
      "delete veth vwe0000000003",
    ]);
  });

  void it("returns nothing when the kernel already matches", () => {
    const ops = planReconcile({ bridges: [bridge], veths: [veth], policies: [] }, [goodBridge, goodHost]);
    assert.deepEqual(ops, []);
  });

  void it("re-attaches veths of a bridge that the plan recreates", () => {
    const ops = planReconcile({ bridges: [bridge], veths: [veth], policies: [] }, [
      link({ name: "weave-a", kind: "vxlan" }),
      goodHost,
    ]);
    assert.deepEqual(ops.flatMap(renderOp).slice(-1), ["link set vwe0000000001 master weave-a"]);
  });
});

void describe("validation", () => {
  void it("rejects values that could not be rendered safely", () => {
    const bad = (f: () => void) => assert.throws(f, { code: "WEAVE_BAD_REQUEST" });
    bad(() => validateBridgeSpec({ ...bridge, name: "weave-a\nlink del eth0" }));
    bad(() => validateBridgeSpec({ ...bridge, name: "a-name-longer-than-15" }));
    bad(() => validateBridgeSpec({ ...bridge, mtu: 10 }));
    bad(() => validateBridgeSpec({ ...bridge, addresses: ["10.32.0.1"] }));
    bad(() => validateBridgeSpec({ ...bridge, addresses: ["10.32.0.1/33"] }));
    bad(() => validateVethSpec({ ...veth, peerMac: "zz" }));
    bad(() => validateVethSpec({ ...veth, peerName: veth.hostName }));
    validateBridgeSpec({ ...bridge, addresses: ["fd00::1/64"] });
    validateVethSpec({ ...veth, peerMac: "02:42:0a:20:00:02" });
  });

  void it("accepts the same names, MACs and MTUs as the overlay: 15 characters, either case, 68-65535", () => {
    const bad = (f: () => void, message: RegExp) => assert.throws(f, { code: "WEAVE_BAD_REQUEST", message });
    for (const mtu of [LINK_MIN_MTU, MAX_MTU]) {
      assert.equal(
        validateBridgeSpec({ ...bridge, name: "b23456789012345", mtu, mac: "02:AB:cd:00:00:01" }),
        undefined,
      );
      assert.equal(validateVethSpec({ ...veth, mtu, peerMac: "02:AB:cd:00:00:02" }), undefined);
    }
    bad(() => validateBridgeSpec({ ...bridge, mtu: LINK_MIN_MTU - 1 }), /^Invalid MTU 67: use 68-65535$/);
    bad(() => validateVethSpec({ ...veth, mtu: MAX_MTU + 1 }), /^Invalid MTU 65536: use 68-65535$/);
    bad(
      () => validateVethSpec({ ...veth, bridge: "b234567890123456" }),
      /^Invalid interface name "b234567890123456": use 1-15 of \[A-Za-z0-9_.-\]$/,
    );
    bad(
      () => validateBridgeSpec({ ...bridge, mac: "02-ab-cd-00-00-01" }),
      /^Invalid MAC "02-ab-cd-00-00-01"$/,
    );
  });
});
