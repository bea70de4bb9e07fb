/** The iproute2 transport adapters over a scripted Exec: bounded batches, reads only when due. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { scriptedExec } from "../../helpers/scripted-exec.js";
import { silentLogger } from "../../../src/core/index.js";
import { IprouteOverlay, IprouteRouted, OVERLAY_READS, ROUTED_READS } from "../../../src/dataplane/index.js";
import type { OverlayNetwork, RoutedNetwork } from "../../../src/dataplane/index.js";

/** vxw4096 with remote endpoints 10.32.0.<id> (MAC ...:<id>) behind 192.168.1.2. */
function network(ids: readonly number[]): OverlayNetwork {
  return {
    spec: { name: "vxw4096", vni: 4096, port: 4789, local: "192.168.1.1", mtu: 1350, bridge: "weave-a" },
    floodPeers: ["192.168.1.2"],
    endpoints: ids.map((i) => ({ mac: `02:42:0a:20:00:0${i}`, ipv4: `10.32.0.${i}`, peer: "192.168.1.2" })),
  };
}

const fdb = (i: number): string =>
  `fdb replace 02:42:0a:20:00:0${i} dev vxw4096 dst 192.168.1.2 self permanent`;
const neigh = (i: number): string =>
  `neigh replace 10.32.0.${i} lladdr 02:42:0a:20:00:0${i} dev vxw4096 nud permanent`;

void describe("IprouteOverlay batches", () => {
  void it("runs at most batchLines lines per batch, in order per tool", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    const overlay = new IprouteOverlay({ exec, logger: silentLogger, batchLines: 3 });
    await overlay.reconcile([network([1, 2, 3, 4])]);
    assert.deepEqual(calls.slice(0, OVERLAY_READS.length + 1), [
      ...OVERLAY_READS,
      "ip -batch - <<< link add vxw4096 mtu 1350 type vxlan id 4096 local 192.168.1.1 dstport 4789 nolearning proxy\nlink set vxw4096 master weave-a up",
    ]);
    // Then the FDB and the neighbour batches, two chains at once.
    const entries = calls.slice(OVERLAY_READS.length + 1);
    assert.deepEqual(
      entries.filter((c) => c.startsWith("bridge")),
      [
        `bridge -batch - <<< fdb append 00:00:00:00:00:00 dev vxw4096 dst 192.168.1.2 self permanent\n${fdb(1)}\n${fdb(2)}`,
        `bridge -batch - <<< ${fdb(3)}\n${fdb(4)}`,
      ],
    );
    assert.deepEqual(
      entries.filter((c) => !c.startsWith("bridge")),
      [`ip -batch - <<< ${neigh(1)}\n${neigh(2)}\n${neigh(3)}`, `ip -batch - <<< ${neigh(4)}`],
    );
    assert.deepEqual(
      entries.slice(0, 2).map((c) => c.split(" ")[0]),
      ["bridge", "ip"],
      "both chains start at once",
    );
  });

  void it("a change between full passes runs its operations only; a full pass reads", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    const overlay = new IprouteOverlay({ exec, logger: silentLogger });
    await overlay.reconcile([network([1])]);
    calls.length = 0;
    await overlay.reconcile([network([1, 2])], { full: false });
    assert.deepEqual(calls, [`bridge -batch - <<< ${fdb(2)}`, `ip -batch - <<< ${neigh(2)}`]);
    calls.length = 0;
    await overlay.reconcile([network([1, 2])], { full: false });
    assert.deepEqual(calls, []);
    // The scripted kernel is empty: a full pass finds everything missing again.
    await overlay.reconcile([network([1, 2])], { full: true });
    assert.deepEqual(calls.slice(0, 3), OVERLAY_READS);
    assert.equal(calls.length, 3 + 3, "reads, then the device, FDB and neighbour batches");
  });

  void it("a failed chunk makes the pass read again and retry; the next pass reads nothing", async () => {
    let failures = 1;
    const { exec, calls } = scriptedExec({}, (cmd) =>
      cmd.startsWith("bridge -batch") && failures-- > 0
        ? "RTNETLINK answers: No buffer space available"
        : undefined,
    );
    const overlay = new IprouteOverlay({ exec, logger: silentLogger, batchLines: 2 });
    await overlay.reconcile([network([1, 2, 3])]);
    const bridgeCalls = calls.filter((c) => c.startsWith("bridge -batch"));
    assert.equal(bridgeCalls.length, 1 + 2, "the failed chunk, then the retried plan in two chunks");
    assert.deepEqual(calls.filter((c) => OVERLAY_READS.includes(c)).length, 6, "read, and read again");
    calls.length = 0;
    await overlay.reconcile([network([1, 2, 3])], { full: false });
    assert.deepEqual(calls, []);
  });
});

void describe("IprouteRouted batches", () => {
  void it("splits route lines and sysctl arguments into bounded runs", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    const routed = new IprouteRouted({ exec, logger: silentLogger, batchLines: 2 });
    const net: RoutedNetwork = {
      bridge: "weave-a",
      remotes: ["10.40.0.1", "10.40.0.2", "fd40::3"].map((ip) => ({ ip, dev: "wvg0" })),
    };
    await routed.reconcile([net]);
    const writes = calls.filter((c) => !ROUTED_READS.includes(c) && !/^sysctl net/.test(c));
    assert.deepEqual(writes, [
      "sysctl -qw net.ipv4.neigh.weave-a.proxy_delay=0 net.ipv6.conf.weave-a.proxy_ndp=1",
      "sysctl -qw net.ipv6.neigh.weave-a.proxy_delay=0 net.ipv4.ip_forward=1",
      "sysctl -qw net.ipv6.conf.all.forwarding=1",
      "ip -batch - <<< route replace 10.40.0.1/32 dev wvg0 proto 87\nroute replace 10.40.0.2/32 dev wvg0 proto 87",
      "ip -batch - <<< route replace fd40::3/128 dev wvg0 proto 87\nneigh replace proxy 10.40.0.1 dev weave-a",
      "ip -batch - <<< neigh replace proxy 10.40.0.2 dev weave-a\nneigh replace proxy fd40::3 dev weave-a",
    ]);
    calls.length = 0;
    await routed.reconcile([net], { full: false });
    assert.deepEqual(calls, []);
  });
});
