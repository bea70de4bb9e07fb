/**
 * Encryption across hosts, on Cluster objects over one in-memory store with fake data planes: hosts
 * with the same password become each other's WireGuard peers (tunnel address, routed containers),
 * a host with another password or none is a mismatch and gets nothing, `rotate-key` reaches the
 * peers, and the plain VXLAN and routed state never names a mismatched peer.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ClusterStatus } from "../../../src/cluster/index.js";
import { derivePresharedKey, tunnelAddress, wireguardDeviceName } from "../../../src/cluster/index.js";
import { MemoryClusterStore } from "../../../src/store/index.js";
import { publishNetwork, testCluster } from "../../helpers/cluster.js";
import { until } from "../../helpers/wait.js";

const CID = "00000000000000e1";

function member(name: string, advertiseAddr: string, store: MemoryClusterStore, presharedKey?: string) {
  const transports = {
    mode: "auto" as const,
    attached: ["192.168.1.0/24"],
    ...(presharedKey !== undefined ? { encryption: { presharedKey, name } } : {}),
  };
  const h = testCluster({
    store,
    clusterId: CID,
    name,
    advertiseAddr,
    transports,
    containerMtu: 1270,
    intervalMs: 500,
  });
  return { name, ...h };
}

const peerOf = (s: ClusterStatus, name: string) => s.peers.find((p) => p.name === name);

void describe("encryption between hosts (Cluster over an in-memory store)", async () => {
  const store = new MemoryClusterStore();
  const psk = await derivePresharedKey("correct horse battery");
  const other = await derivePresharedKey("another horse battery");
  const a = member("a", "192.168.1.1", store, psk);
  const b = member("b", "192.168.1.2", store, psk);
  const c = member("c", "192.168.2.3", store, psk);
  const wrong = member("w", "192.168.1.9", store, other);
  const plain = member("p", "192.168.1.8", store);
  const all = [a, b, c, wrong, plain];
  after(async () => {
    for (const m of all) await m.cluster.close();
  });

  void it("makes hosts with the same password WireGuard peers, and refuses the others", async () => {
    await publishNetwork(store, CID);
    const ep = (m: typeof a, ip: string, mac: string) =>
      m.state.putEndpoint({
        id: `${m.name}`.repeat(64),
        networkId: `net-${m.name}`,
        hostIf: `vw${m.name}`,
        peerIf: `vp${m.name}`,
        mac,
        ipv4: `${ip}/24`,
        ipv6: null,
        sandboxKey: null,
        createdAt: Date.now(),
      });
    ep(b, "10.32.0.18", "02:42:0a:20:00:12");
    ep(c, "10.32.0.35", "02:42:0a:20:00:23");
    ep(wrong, "10.32.0.50", "02:42:0a:20:00:32");
    ep(plain, "10.32.0.60", "02:42:0a:20:00:3c");
    for (const m of all) m.cluster.start();

    const device = wireguardDeviceName("a");
    await until(
      "a has its WireGuard peers b and c",
      () => a.wireguard.devices.get(device)?.peers.length === 2,
    );
    const peers = a.wireguard.devices.get(device)?.peers ?? [];
    const bKey = b.keys.load().publicKey;
    const cKey = c.keys.load().publicKey;
    const byKey = new Map(peers.map((p) => [p.publicKey, p]));
    assert.deepEqual(
      byKey.get(bKey)?.allowedIps,
      [`${tunnelAddress("b")}/128`, "10.32.0.18/32"],
      "routed: b's container",
    );
    assert.deepEqual(
      byKey.get(cKey)?.allowedIps,
      [`${tunnelAddress("c")}/128`],
      "vxlan: only c's tunnel address",
    );
    assert.equal(byKey.get(bKey)?.endpoint, "192.168.1.2:51820");
    assert.equal(byKey.get(bKey)?.presharedKey, psk);

    // Routed into the device, VXLAN between tunnel addresses; nothing for the mismatched peers.
    await until("a routes b's container into the device", () =>
      a.routed.routes.some((r) => r.dst.startsWith("10.32.0.18")),
    );
    const routes = JSON.stringify(a.routed.routes);
    assert.ok(routes.includes(device));
    assert.ok(!routes.includes("10.32.0.50") && !routes.includes("10.32.0.60"), routes);
    const fdb = JSON.stringify(a.overlay.fdb);
    assert.ok(fdb.includes(tunnelAddress("c")), fdb);
    assert.ok(
      !fdb.includes("192.168.1.9") && !fdb.includes("192.168.1.8"),
      "no plain VXLAN to mismatched peers",
    );

    const status = a.cluster.status();
    assert.equal(status.encryption.enabled, true);
    assert.equal(status.encryption.publicKey, a.keys.load().publicKey);
    assert.deepEqual(
      [peerOf(status, "b")?.transport, peerOf(status, "b")?.encryption, peerOf(status, "b")?.mtu],
      ["routed", "wireguard", 1270],
    );
    assert.deepEqual(
      [peerOf(status, "c")?.transport, peerOf(status, "c")?.encryption],
      ["vxlan", "wireguard"],
    );
    assert.equal(peerOf(status, "w")?.problem, "encryption mismatch: the peer uses another password");
    assert.equal(peerOf(status, "p")?.problem, "encryption mismatch: the peer has no password");
    assert.equal(peerOf(status, "w")?.up, false);
    const fromPlain = plain.cluster.status();
    assert.equal(
      peerOf(fromPlain, "a")?.problem,
      "encryption mismatch: the peer encrypts and this host has no password",
    );
    assert.equal(
      plain.overlay.fdb.length,
      0,
      "the host without a password programs nothing to encrypting hosts",
    );
  });

  void it("shows the handshake age and counts a peer without a recent handshake as down", async () => {
    const bKey = b.keys.load().publicKey;
    a.wireguard.setHandshake(bKey, Date.now() - 5_000);
    await until(
      "b's handshake seen",
      () => (peerOf(a.cluster.status(), "b")?.handshakeAgeS ?? -1) >= 0,
      5_000,
    );
    const age = peerOf(a.cluster.status(), "b")?.handshakeAgeS ?? -1;
    assert.ok(age >= 4 && age < 30, `age ${age}`);
    assert.equal(peerOf(a.cluster.status(), "b")?.up, true);
    assert.equal(peerOf(a.cluster.status(), "c")?.up, false, "no handshake with c yet");
  });

  void it("rotate-key publishes a new public key and the peers switch to it", async () => {
    const before = b.keys.load().publicKey;
    const after = await b.cluster.rotateKey();
    assert.notEqual(after, before);
    assert.equal(b.cluster.status().encryption.publicKey, after);
    const device = wireguardDeviceName("a");
    await until("a uses b's new key", () =>
      (a.wireguard.devices.get(device)?.peers ?? []).some((p) => p.publicKey === after),
    );
    assert.ok(!(a.wireguard.devices.get(device)?.peers ?? []).some((p) => p.publicKey === before));
    await assert.rejects(plain.cluster.rotateKey(), /Encryption is off/);
  });
});
