import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import { FakeWireguard } from "../../../src/dataplane/index.js";
import { key, sampleSpec } from "../../helpers/wireguard.js";

const NAME = "wvg0a1b2c3d";
const SYNC = `sh -c cat | wg syncconf "$1" /dev/stdin sh ${NAME}`;

void describe("FakeWireguard", () => {
  void it("records the kernel's commands and converges", async () => {
    const wg = new FakeWireguard();
    assert.equal(wg.implementation, undefined);
    const report = await wg.reconcile(sampleSpec());
    assert.equal(report.applied.length, 7);
    assert.deepEqual(wg.commands, [
      `ip link add ${NAME} type wireguard`,
      SYNC,
      `ip address replace fd77:6561:7665:0:1:2:3:4/64 dev ${NAME} nodad`,
      `ip link set ${NAME} mtu 1420 up`,
    ]);
    assert.equal(wg.implementation, "kernel");
    assert.match(wg.lastConfig ?? "", /ListenPort = 51820/);
    assert.deepEqual((await wg.reconcile(sampleSpec())).applied, []);
    assert.equal(wg.commands.length, 4);
  });

  void it("starts wireguard-go on a machine without kernel WireGuard", async () => {
    const wg = new FakeWireguard({ implementation: "wireguard-go" });
    await wg.reconcile(sampleSpec());
    assert.equal(wg.commands[0], `setsid --fork --wait wireguard-go ${NAME}`);
    assert.equal(wg.implementation, "wireguard-go");
  });

  void it("keeps the state of unchanged peers across a sync, and reports peers", async () => {
    const wg = new FakeWireguard();
    await wg.reconcile(sampleSpec());
    wg.setHandshake(key(2), 1_700_000_000_000);
    const spec = sampleSpec();
    spec.peers.pop();
    spec.peers.push({ publicKey: key(6), presharedKey: key(3), endpoint: "10.0.0.6:1", allowedIps: [] });
    assert.deepEqual((await wg.reconcile(spec)).applied, [
      `remove peer ${key(4)} from ${NAME}`,
      `add peer ${key(6)} to ${NAME}`,
    ]);
    assert.deepEqual(await wg.peers(), [
      {
        publicKey: key(2),
        latestHandshake: 1_700_000_000_000,
        rxBytes: 0,
        txBytes: 0,
        endpoint: "192.168.1.2:51820",
      },
      { publicKey: key(6), latestHandshake: 0, rxBytes: 0, txBytes: 0, endpoint: "10.0.0.6:1" },
    ]);
  });

  void it("makes anew a device that does not answer, and removes it for no spec", async () => {
    const wg = new FakeWireguard({ implementation: "wireguard-go" });
    await wg.reconcile(sampleSpec());
    const dev = wg.devices.get(NAME);
    assert.ok(dev);
    dev.answers = false;
    assert.deepEqual(await wg.peers(), []);
    const report = await wg.reconcile(sampleSpec());
    assert.deepEqual(report.applied.slice(0, 2), [
      `delete WireGuard device ${NAME}`,
      `create WireGuard device ${NAME}`,
    ]);
    assert.deepEqual((await wg.reconcile(undefined)).applied, [`delete WireGuard device ${NAME}`]);
    assert.equal(wg.devices.size, 0);
    assert.equal(wg.implementation, undefined);
    assert.deepEqual(await wg.peers(), []);
  });

  void it("fails an injected command with WEAVE_DATAPLANE and converges on the next reconcile", async () => {
    const wg = new FakeWireguard();
    wg.failNext("wg syncconf");
    await assert.rejects(wg.reconcile(sampleSpec()), (e) => isWeaveError(e, "WEAVE_DATAPLANE"));
    const report = await wg.reconcile(sampleSpec());
    assert.equal(report.applied[0], `set the private key of ${NAME}`);
    assert.deepEqual((await wg.reconcile(sampleSpec())).applied, []);
  });

  void it("rejects an invalid spec before recording anything", async () => {
    const wg = new FakeWireguard();
    await assert.rejects(wg.reconcile({ ...sampleSpec(), mtu: 1 }), (e) =>
      isWeaveError(e, "WEAVE_BAD_REQUEST"),
    );
    assert.deepEqual(wg.commands, []);
  });
});
