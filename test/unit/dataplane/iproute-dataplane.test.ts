import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger, WeaveError } from "../../../src/core/index.js";
import type { Exec, ExecResult } from "../../../src/core/index.js";
import {
  IprouteDataplane,
  parseIpAddrJson,
  parseRoutesJson,
  randomMac,
} from "../../../src/dataplane/index.js";

const addrJson = JSON.stringify([
  { ifname: "lo", flags: ["LOOPBACK", "UP"], mtu: 65536, address: "00:00:00:00:00:00", addr_info: [] },
  {
    ifname: "weave-a",
    flags: ["BROADCAST", "UP"],
    mtu: 1450,
    address: "9a:11:c3:39:68:0c",
    linkinfo: { info_kind: "bridge" },
    addr_info: [
      { family: "inet", local: "10.32.0.1", prefixlen: 24, scope: "global" },
      { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
    ],
  },
  { ifname: "vwe1", flags: ["BROADCAST"], mtu: 1450, master: "weave-a", linkinfo: { info_kind: "veth" } },
]);

type Reply = Partial<ExecResult> | ((input: string | undefined) => Partial<ExecResult>);

/** An Exec that answers from a table keyed by command prefix and records every call. */
function scripted(table: [string, Reply][]): { exec: Exec; calls: string[] } {
  const calls: string[] = [];
  const exec: Exec = async (file, args, options) => {
    const cmd = [file, ...args].join(" ");
    calls.push(options?.input !== undefined ? `${cmd} <<< ${options.input.trim()}` : cmd);
    const hit = table.find(([prefix]) => cmd.startsWith(prefix));
    const reply = hit ? (typeof hit[1] === "function" ? hit[1](options?.input) : hit[1]) : {};
    const result = { stdout: "", stderr: "", code: 0, ...reply };
    if (options?.check !== false && result.code !== 0) throw new WeaveError("WEAVE_DATAPLANE", result.stderr);
    return result;
  };
  return { exec, calls };
}

void describe("iproute2 output parsing", () => {
  void it("reads kind, master, MTU, up and non-link-local addresses", () => {
    assert.deepEqual(parseIpAddrJson(addrJson), [
      { name: "lo", kind: undefined, mtu: 65536, up: true, addresses: [], mac: "00:00:00:00:00:00" },
      {
        name: "weave-a",
        kind: "bridge",
        mtu: 1450,
        up: true,
        addresses: ["10.32.0.1/24"],
        mac: "9a:11:c3:39:68:0c",
      },
      { name: "vwe1", kind: "veth", mtu: 1450, up: false, addresses: [], master: "weave-a" },
    ]);
  });

  void it("keeps host routes but not default routes, weave bridges or IPv6 link-local", () => {
    const v4 = JSON.stringify([
      { dst: "default", gateway: "192.0.2.1", dev: "eth0" },
      { dst: "192.0.2.0/24", dev: "eth0" },
      { dst: "10.32.0.0/24", dev: "weave-a" },
      { dst: "10.99.0.0/16", dev: "weave" },
      { dst: "203.0.113.7", dev: "eth0" },
      { dst: "198.51.100.0/24", type: "blackhole" },
    ]);
    assert.deepEqual(parseRoutesJson(v4, 4), ["192.0.2.0/24", "203.0.113.7/32", "198.51.100.0/24"]);
    const v6 = JSON.stringify([
      { dst: "fd00::/64", dev: "eth0" },
      { dst: "fe80::/64", dev: "eth0" },
    ]);
    assert.deepEqual(parseRoutesJson(v6, 6), ["fd00::/64"]);
    assert.throws(() => parseRoutesJson("garbage", 4), { code: "WEAVE_DATAPLANE" });
  });
});

void describe("IprouteDataplane with a scripted exec", () => {
  void it("fixes only what differs, in one ip batch", async () => {
    const { exec, calls } = scripted([["ip -json -details address show", { stdout: addrJson }]]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    await dp.ensureVeth({ hostName: "vwe1", peerName: "vwp1", bridge: "weave-a", mtu: 1450 });
    assert.deepEqual(calls, ["ip -json -details address show", "ip -batch - <<< link set vwe1 up"]);
  });

  void it("treats deleting a missing device as success and other failures as WEAVE_DATAPLANE", async () => {
    const { exec } = scripted([
      ["ip link del gone", { code: 1, stderr: 'Cannot find device "gone"' }],
      ["ip link del busy", { code: 2, stderr: "RTNETLINK answers: Operation not permitted" }],
    ]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    await dp.deleteVeth("gone");
    await assert.rejects(dp.deleteBridge("busy"), (err: unknown) => {
      assert.ok(err instanceof WeaveError);
      assert.equal(err.code, "WEAVE_DATAPLANE");
      assert.match(err.message, /Cannot delete bridge "busy": RTNETLINK answers: Operation not permitted/);
      return true;
    });
  });

  void it("refuses a bad spec before running anything; a reconcile checks its specs after reading", async () => {
    const { exec, calls } = scripted([["ip -json -details address show", { stdout: "[]" }]]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    const badBridge = { name: "weave-a; reboot", mtu: 1450, addresses: [] };
    await assert.rejects(dp.ensureBridge(badBridge), { code: "WEAVE_BAD_REQUEST" });
    await assert.rejects(dp.ensureVeth({ hostName: "vwe1", peerName: "vwp1", bridge: "weave-a", mtu: 67 }), {
      code: "WEAVE_BAD_REQUEST",
      message: "Invalid MTU 67: use 68-65535",
    });
    assert.deepEqual(calls, []);
    const desired = () => ({ bridges: [badBridge], veths: [], policies: [] });
    await assert.rejects(dp.reconcile(desired), { code: "WEAVE_BAD_REQUEST" });
    assert.deepEqual(calls, ["ip -json -details address show"]);
  });

  void it("retries a failed batch once after observing again", async () => {
    let listed = 0;
    const { exec, calls } = scripted([
      ["ip -json -details address show", () => ({ stdout: listed++ === 0 ? "[]" : addrJson })],
      ["ip -batch -", { code: 2, stderr: "RTNETLINK answers: File exists" }],
    ]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    await dp.ensureBridge({ name: "weave-a", mtu: 1450, addresses: ["10.32.0.1/24"] });
    assert.equal(calls.filter((c) => c.startsWith("ip -batch")).length, 1);
  });

  void it("creates a bridge with a fixed, locally administered MAC (not its lowest port's)", async () => {
    const { exec, calls } = scripted([["ip -json -details address show", { stdout: "[]" }]]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    await dp.ensureBridge({ name: "weave-a", mtu: 1450, addresses: ["10.32.0.1/24"] });
    const batch = calls.find((c) => c.startsWith("ip -batch")) ?? "";
    const mac = /link add weave-a mtu 1450 address ([0-9a-f:]{17}) type bridge/.exec(batch)?.[1];
    assert.ok(mac, `the bridge gets an address at creation: ${batch}`);
    const first = Number.parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0x03, 0x02, "unicast and locally administered");
    assert.notEqual(randomMac(), randomMac());
  });

  void it("applies nft rules, skips a missing iptables and enables forwarding via a fallback", async () => {
    const enoent = (file: string) => () => {
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot run "${file}"`, {
        cause: Object.assign(new Error("ENOENT"), { code: "ENOENT" }),
      });
    };
    const { exec, calls } = scripted([
      ["iptables", enoent("iptables")],
      ["ip6tables", { code: 127, stderr: "nsenter: failed to execute ip6tables" }],
      ["sysctl", enoent("sysctl")],
    ]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    await dp.applyPolicies([{ bridge: "weave-a", subnets: ["10.32.0.0/24"], internal: false }]);
    assert.match(calls[0] ?? "", /^nft -f - <<< table inet weave \{\}/);
    assert.deepEqual(calls.slice(1), [
      "iptables -w 5 -S FORWARD",
      "ip6tables -w 5 -S FORWARD",
      "sysctl -qw net.ipv4.ip_forward=1",
      "sh -c echo 1 > /proc/sys/net/ipv4/ip_forward",
    ]);
  });

  void it("accepts a read-only /proc/sys when forwarding is on already, and fails when it is off", async () => {
    const readOnly = { code: 1, stderr: "Read-only file system" };
    for (const [value, works] of [
      ["1\n", true],
      ["0\n", false],
    ] as const) {
      const { exec } = scripted([
        ["sysctl", { code: 255, stderr: "sysctl: permission denied on key" }],
        ["sh -c echo 1", readOnly],
        ["cat /proc/sys/net/ipv4/ip_forward", { stdout: value }],
      ]);
      const dp = new IprouteDataplane({ exec, logger: silentLogger });
      const applied = dp.applyPolicies([{ bridge: "weave-a", subnets: ["10.32.0.0/24"], internal: false }]);
      if (works) await applied;
      else await assert.rejects(applied, /Cannot enable IPv4 forwarding .*Read-only file system/);
    }
  });

  void it("reports an nft failure as WEAVE_DATAPLANE quoting stderr", async () => {
    const { exec } = scripted([["nft", { code: 1, stderr: "Error: syntax error" }]]);
    const dp = new IprouteDataplane({ exec, logger: silentLogger });
    await assert.rejects(dp.applyPolicies([]), /Cannot apply nftables rules .*Error: syntax error/);
  });
});
