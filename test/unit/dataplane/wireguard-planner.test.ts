import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import {
  describeWireguardOp,
  parseWireguardDump,
  renderWireguardConfig,
  syncconfArgv,
  wireguardOpArgv,
  wireguardPlan,
} from "../../../src/dataplane/index.js";
import type { ObservedWireguard, WireguardOp, WireguardSpec } from "../../../src/dataplane/index.js";
import { key, sampleSpec } from "../../helpers/wireguard.js";

const NAME = "wvg0a1b2c3d";

/** What the device reports once `spec` is applied (the dump `wg show` prints for it). */
function applied(spec: WireguardSpec, change: Partial<ObservedWireguard> = {}): ObservedWireguard {
  const lines = [[spec.privateKey, key(99), String(spec.listenPort), "off"]];
  for (const p of spec.peers) {
    const ips = p.allowedIps.length ? p.allowedIps.join(",") : "(none)";
    const ep = p.endpoint.toLowerCase().replace("fd00:0::9", "fd00::9");
    lines.push([
      p.publicKey,
      p.presharedKey,
      ep,
      ips,
      "1700000000",
      "1",
      "2",
      String(p.persistentKeepalive || "off"),
    ]);
  }
  return {
    links: [{ name: spec.name, kind: "tun", mtu: spec.mtu, up: true }],
    dump: parseWireguardDump(lines.map((l) => l.join("\t")).join("\n")),
    addresses: [spec.address],
    ...change,
  };
}

const plan = (spec: WireguardSpec | undefined, observed: ObservedWireguard): string[] =>
  wireguardPlan(spec)(observed).map(describeWireguardOp);

void describe("wireguardPlan", () => {
  void it("creates and configures a missing device", () => {
    const spec = sampleSpec();
    assert.deepEqual(plan(spec, { links: [], addresses: [] }), [
      `create WireGuard device ${NAME}`,
      `set the private key of ${NAME}`,
      `set the listen port of ${NAME} to 51820`,
      `add peer ${key(2)} to ${NAME}`,
      `add peer ${key(4)} to ${NAME}`,
      `add address fd77:6561:7665:0:1:2:3:4/64 to ${NAME}`,
      `set ${NAME} mtu 1420 up`,
    ]);
  });

  void it("plans nothing for a device that matches (canonical forms compared)", () => {
    const spec = sampleSpec();
    assert.deepEqual(plan(spec, applied(spec)), []);
  });

  void it("compares private keys as the device stores them (clamped)", () => {
    const spec = sampleSpec(); // key(1): 32 bytes 0x01, which the device stores as 0x00 ... 0x41
    const observed = applied(spec);
    const clamped = Buffer.alloc(32, 1);
    clamped[0] = 0;
    clamped[31] = 0x41;
    observed.dump!.privateKey = clamped.toString("base64");
    assert.deepEqual(plan(spec, observed), []);
    spec.privateKey = key(2);
    assert.deepEqual(plan(spec, observed), [`set the private key of ${NAME}`]);
  });

  void it("plans only what changed, peer by peer", () => {
    const spec = sampleSpec();
    const observed = applied(spec);
    const want = sampleSpec();
    want.listenPort = 51821;
    want.peers[0]!.endpoint = "192.168.1.3:51820";
    want.peers[0]!.allowedIps = ["fd77:6561:7665:0:5:6:7:8/128"];
    want.peers[1]!.presharedKey = key(5);
    want.peers[1]!.persistentKeepalive = 25;
    want.peers.push({ publicKey: key(6), presharedKey: key(3), endpoint: "10.0.0.6:1", allowedIps: [] });
    want.peers.shift();
    want.peers.unshift({ ...want.peers[0]!, publicKey: key(7) });
    assert.deepEqual(plan(want, observed), [
      `set the listen port of ${NAME} to 51821`,
      `remove peer ${key(2)} from ${NAME}`,
      `add peer ${key(7)} to ${NAME}`,
      `update peer ${key(4)} on ${NAME} (preshared key, persistent keepalive)`,
      `add peer ${key(6)} to ${NAME}`,
    ]);
    const moved = sampleSpec();
    moved.peers[0]!.endpoint = "192.168.1.3:51820";
    moved.peers[0]!.allowedIps.reverse();
    assert.deepEqual(plan(moved, observed), [`update peer ${key(2)} on ${NAME} (endpoint)`]);
  });

  void it("sets a new private key, fixes addresses, MTU and up state", () => {
    const spec = sampleSpec();
    const observed = applied(spec, {
      links: [{ name: NAME, kind: "wireguard", mtu: 1500, up: false }],
      addresses: ["10.1.1.1/24", "fd77:6561:7665:0:1:2:3:4/64"],
    });
    const want = sampleSpec();
    want.privateKey = key(8);
    want.address = "fd77:6561:7665:0:0:0:0:9/64";
    assert.deepEqual(plan(want, observed), [
      `set the private key of ${NAME}`,
      `delete address 10.1.1.1/24 from ${NAME}`,
      `delete address fd77:6561:7665:0:1:2:3:4/64 from ${NAME}`,
      `add address fd77:6561:7665::9/64 to ${NAME}`,
      `set ${NAME} mtu 1420 up`,
    ]);
  });

  void it("makes anew a tun device that does not answer", () => {
    const spec = sampleSpec();
    const { links, addresses } = applied(spec);
    const ops = plan(spec, { links, addresses });
    assert.deepEqual(ops.slice(0, 3), [
      `delete WireGuard device ${NAME}`,
      `create WireGuard device ${NAME}`,
      `set the private key of ${NAME}`,
    ]);
    assert.equal(ops.at(-1), `set ${NAME} mtu 1420 up`);
  });

  void it("deletes other weave devices, and all of them for no spec", () => {
    const spec = sampleSpec();
    const observed = applied(spec);
    observed.links.push(
      { name: "wvgffffffff", kind: "wireguard", mtu: 1420, up: true },
      { name: "wg0", kind: "wireguard", mtu: 1420, up: true },
    );
    assert.deepEqual(plan(spec, observed), ["delete WireGuard device wvgffffffff"]);
    assert.deepEqual(plan(undefined, observed), [
      `delete WireGuard device ${NAME}`,
      "delete WireGuard device wvgffffffff",
    ]);
    assert.deepEqual(plan(undefined, { links: [], addresses: [] }), []);
  });

  void it("refuses a name taken by another kind of link", () => {
    const observed: ObservedWireguard = {
      links: [{ name: NAME, kind: "bridge", mtu: 1500, up: true }],
      addresses: [],
    };
    assert.throws(
      () => plan(sampleSpec(), observed),
      (e) => isWeaveError(e, "WEAVE_DATAPLANE") && /not a WireGuard device \(kind "bridge"\)/.test(e.message),
    );
  });

  void it("checks the spec before it observes anything", () => {
    const spec = sampleSpec();
    spec.name = "eth0";
    assert.throws(
      () => wireguardPlan(spec),
      (e) => isWeaveError(e, "WEAVE_BAD_REQUEST"),
    );
  });
});

void describe("wireguardOpArgv", () => {
  void it("renders the commands", () => {
    const ops: [Exclude<WireguardOp, { op: "create-device" }>, string[]][] = [
      [{ op: "delete-device", name: NAME, kind: "tun" }, ["ip", "link", "del", NAME]],
      [{ op: "add-peer", name: NAME, publicKey: key(2) }, syncconfArgv(NAME)],
      [
        { op: "del-address", name: NAME, address: "10.1.1.1/24" },
        ["ip", "address", "del", "10.1.1.1/24", "dev", NAME],
      ],
      [
        { op: "add-address", name: NAME, address: "fd77::1/64" },
        ["ip", "address", "replace", "fd77::1/64", "dev", NAME, "nodad"],
      ],
      [{ op: "set-link", name: NAME, mtu: 1420 }, ["ip", "link", "set", NAME, "mtu", "1420", "up"]],
    ];
    for (const [op, argv] of ops) assert.deepEqual(wireguardOpArgv(op), argv);
    assert.deepEqual(syncconfArgv(NAME), ["sh", "-c", 'cat | wg syncconf "$1" /dev/stdin', "sh", NAME]);
  });

  void it("keeps secrets out of the descriptions", () => {
    const spec = sampleSpec();
    const lines = plan(spec, { links: [], addresses: [] }).join("\n");
    assert.ok(!lines.includes(spec.privateKey) && !lines.includes(key(3)));
    assert.ok(renderWireguardConfig(spec).includes(spec.privateKey));
  });
});
