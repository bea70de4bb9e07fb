import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError, silentLogger, WeaveError } from "../../../src/core/index.js";
import type { Exec, ExecResult } from "../../../src/core/index.js";
import {
  FakeProcessTable,
  parseDeviceAddressesJson,
  parseWireguardLinksJson,
  WireguardDevice,
} from "../../../src/dataplane/index.js";
import { key, sampleSpec } from "../../helpers/wireguard.js";

const NAME = "wvg0a1b2c3d";
const GO = ["wireguard-go", NAME];

/**
 * A small machine without kernel WireGuard: `ip link add ... type wireguard` fails as on such a
 * kernel, and `setsid --fork --wait wireguard-go NAME` makes a tun device and a process. Every call
 * is recorded; `missing` programs fail to spawn as Exec does.
 */
function machine(options: { missing?: string[]; processes?: FakeProcessTable } = {}) {
  const processes = options.processes ?? new FakeProcessTable();
  const calls: string[] = [];
  let tun: { answers: boolean } | undefined;
  let config = "";
  const exec: Exec = async (file, args) => {
    const cmd = [file, ...args].join(" ");
    calls.push(cmd);
    if (options.missing?.includes(file)) {
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot run "${file}": spawn ${file} ENOENT`);
    }
    const ok = (stdout = ""): ExecResult => ({ stdout, stderr: "", code: 0 });
    if (cmd === "ip -details -json link show") {
      const links = tun ? [{ ifname: NAME, mtu: 1420, flags: ["UP"], linkinfo: { info_kind: "tun" } }] : [];
      return ok(JSON.stringify([{ ifname: "lo", flags: ["UP"], mtu: 65536 }, ...links]));
    }
    if (cmd.startsWith("ip link add"))
      return { stdout: "", stderr: "Error: Unknown device type.\n", code: 2 };
    if (cmd.startsWith("setsid")) {
      if (options.missing?.includes("wireguard-go")) {
        return {
          stdout: "",
          stderr: "setsid: failed to execute wireguard-go: No such file or directory",
          code: 127,
        };
      }
      tun = { answers: true };
      processes.start(GO);
      return ok();
    }
    if (cmd.startsWith(`wg show ${NAME}`)) {
      if (!tun?.answers)
        return { stdout: "", stderr: "Unable to access interface: Protocol not supported", code: 1 };
      return ok(cmd.endsWith("dump") ? `${key(1)}\t${key(9)}\t51820\toff\n${config}` : "51820\n");
    }
    if (cmd.startsWith("sh -c")) {
      const p = sampleSpec().peers;
      config = p
        .map((x) => [
          x.publicKey,
          x.presharedKey,
          x.endpoint,
          x.allowedIps.join(",") || "(none)",
          0,
          0,
          0,
          x.persistentKeepalive ?? "off",
        ])
        .map((f) => f.join("\t").replace("[FD00:0::9]", "[fd00::9]"))
        .join("\n");
      return ok();
    }
    if (cmd === `ip link del ${NAME}`) {
      tun = undefined;
      // wireguard-go exits with its device, unless it hangs
      for (const [pid, p] of processes.processes) if (!p.stubborn) processes.processes.delete(pid);
      return ok();
    }
    if (cmd.startsWith("ip -json address show")) {
      return ok(
        JSON.stringify([
          { addr_info: [{ local: "fd77:6561:7665:0:1:2:3:4", prefixlen: 64, scope: "global" }] },
        ]),
      );
    }
    return ok();
  };
  return {
    calls,
    processes,
    hang: () => tun && (tun.answers = false),
    device: () =>
      new WireguardDevice({ exec, logger: silentLogger, processes, pollMs: 1, stopTimeoutMs: 10 }),
  };
}

void describe("WireguardDevice (scripted)", () => {
  void it("falls back to wireguard-go, waits for its socket and finds its PID", async () => {
    const m = machine();
    const wg = m.device();
    const report = await wg.reconcile(sampleSpec());
    assert.equal(report.applied.length, 7);
    assert.deepEqual(m.calls, [
      "ip -details -json link show",
      `ip link add ${NAME} type wireguard`,
      `setsid --fork --wait wireguard-go ${NAME}`,
      `wg show ${NAME} listen-port`,
      `sh -c cat | wg syncconf "$1" /dev/stdin sh ${NAME}`,
      `ip address replace fd77:6561:7665:0:1:2:3:4/64 dev ${NAME} nodad`,
      `ip link set ${NAME} mtu 1420 up`,
    ]);
    assert.equal(wg.implementation, "wireguard-go");
    assert.deepEqual([wg.pid], await m.processes.find(GO));
  });

  void it("adopts a running device in a new instance without changing it", async () => {
    const m = machine();
    await m.device().reconcile(sampleSpec());
    const [pid] = await m.processes.find(GO);
    m.calls.length = 0;
    const adopted = m.device();
    assert.deepEqual((await adopted.reconcile(sampleSpec())).applied, []);
    assert.equal(adopted.implementation, "wireguard-go");
    assert.equal(adopted.pid, pid);
    assert.ok(
      m.calls.every((c) => !c.startsWith("setsid") && !c.startsWith("sh ")),
      m.calls.join("\n"),
    );
    assert.equal((await adopted.peers()).length, 2);
  });

  void it("replaces a hung wireguard-go, signalling it until it ends", async () => {
    const processes = new FakeProcessTable();
    const m = machine({ processes });
    await m.device().reconcile(sampleSpec());
    const [stuck] = await processes.find(GO);
    processes.processes.get(stuck ?? 0)!.stubborn = true;
    m.hang();
    m.calls.length = 0;
    const wg = m.device();
    const report = await wg.reconcile(sampleSpec());
    assert.deepEqual(report.applied.slice(0, 2), [
      `delete WireGuard device ${NAME}`,
      `create WireGuard device ${NAME}`,
    ]);
    assert.deepEqual(processes.signals, [`SIGTERM ${stuck}`, `SIGKILL ${stuck}`]);
    assert.ok(m.calls.includes(`rm -f /run/wireguard/${NAME}.sock`));
    const now = await processes.find(GO);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], stuck);
    assert.equal(wg.pid, now[0]);
  });

  void it("says what to install when wireguard-go is missing", async () => {
    const m = machine({ missing: ["wireguard-go"] });
    await assert.rejects(
      m.device().reconcile(sampleSpec()),
      (e) =>
        isWeaveError(e, "WEAVE_DATAPLANE") &&
        e.message ===
          "The kernel has no WireGuard and wireguard-go is not installed: apt-get install wireguard-go wireguard-tools",
    );
  });

  void it("says what to install when wg is missing", async () => {
    const m = machine({ missing: ["wg"] });
    await assert.rejects(
      m.device().reconcile(sampleSpec()),
      (e) =>
        isWeaveError(e, "WEAVE_DATAPLANE") && e.message.startsWith("wg is not installed: apt-get install"),
    );
  });

  void it("has no peers before its first reconcile and none after removing the device", async () => {
    const m = machine();
    const wg = m.device();
    assert.deepEqual(await wg.peers(), []);
    await wg.reconcile(sampleSpec());
    assert.deepEqual((await wg.reconcile(undefined)).applied, [`delete WireGuard device ${NAME}`]);
    assert.deepEqual(await wg.peers(), []);
    assert.deepEqual(await m.processes.find(GO), []);
    assert.equal(wg.implementation, undefined);
  });
});

void describe("WireGuard link parsing", () => {
  void it("reads weave's WireGuard links with their kind", () => {
    const text = JSON.stringify([
      { ifname: "eth0", mtu: 1500, flags: ["UP"], linkinfo: { info_kind: "veth" } },
      {
        ifname: "wvg0a1b2c3d",
        mtu: 1420,
        flags: ["POINTOPOINT", "UP"],
        linkinfo: { info_kind: "wireguard" },
      },
      { ifname: "wvgffffffff", mtu: 1380, flags: ["POINTOPOINT"], linkinfo: { info_kind: "tun" } },
    ]);
    assert.deepEqual(parseWireguardLinksJson(text), [
      { name: "wvg0a1b2c3d", kind: "wireguard", mtu: 1420, up: true },
      { name: "wvgffffffff", kind: "tun", mtu: 1380, up: false },
    ]);
  });

  void it("reads addresses without link-local ones, canonical", () => {
    const text = JSON.stringify([
      {
        addr_info: [
          { local: "FD77:6561:7665:0:0:0:0:1", prefixlen: 64, scope: "global" },
          { local: "fe80::1", prefixlen: 64, scope: "link" },
        ],
      },
    ]);
    assert.deepEqual(parseDeviceAddressesJson(text), ["fd77:6561:7665::1/64"]);
  });
});
