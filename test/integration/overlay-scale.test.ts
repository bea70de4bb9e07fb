/**
 * IprouteOverlay at scale against the real kernel, in one scratch "host" namespace: 5,000 remote
 * endpoints, then one more. Between full passes the adapter reads nothing and runs only the
 * operations of the change; the kernel ends with every entry. Also the real ExecSysctl and
 * NeighLimits inside the namespace (where the kernel's neighbour table limits are not visible), and
 * kept batch processes (one `ip` and one `bridge` for many changes), repaired when a device is
 * replaced behind their back.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../../src/core/index.js";
import type { Exec } from "../../src/core/index.js";
import {
  ExecSysctl,
  IprouteOverlay,
  KeptBatches,
  NeighLimits,
  neighCounts,
  vxlanName,
} from "../../src/dataplane/index.js";
import type { OverlayNetwork, RemoteEndpoint } from "../../src/dataplane/index.js";
import { assertRunnable, Netns, nsExec, rootSkip } from "./helpers/netns.js";

const TOOLS = ["ip", "bridge", "nsenter", "sysctl"];
const BRIDGE = "weave-sc";
const LOCAL = "192.168.252.1";
const COUNT = 5_000;

/** Remote endpoint `i`: MAC 02:42:0a:c8:xx:yy, IPv4 10.200.xx.yy, behind one of 10 peers. */
function endpoint(i: number): RemoteEndpoint {
  const hi = (i >> 8) & 255;
  const lo = i & 255;
  const hex = (n: number): string => n.toString(16).padStart(2, "0");
  return {
    mac: `02:42:0a:c8:${hex(hi)}:${hex(lo)}`,
    ipv4: `10.200.${hi}.${lo}`,
    peer: `192.168.252.${10 + (i % 10)}`,
  };
}

function desired(count: number): OverlayNetwork[] {
  const endpoints = Array.from({ length: count }, (_, i) => endpoint(i + 1));
  const floodPeers = [...new Set(endpoints.map((e) => e.peer))].sort();
  const spec = { name: vxlanName(4343), vni: 4343, port: 4789, local: LOCAL, mtu: 1350, bridge: BRIDGE };
  return [{ spec, floodPeers, endpoints }];
}

/** An Exec that records every command (`file args...`) it runs. */
function counting(exec: Exec): { exec: Exec; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    exec: (file, args, options) => (calls.push([file, ...args].join(" ")), exec(file, args, options)),
  };
}

const isRead = (cmd: string): boolean => cmd.includes(" -json ") || cmd.startsWith("ip -json");

void describe("IprouteOverlay with 5,000 remote endpoints (root)", { skip: rootSkip(TOOLS) }, () => {
  const netns = new Netns();
  let host = "";

  before(async () => {
    assertRunnable(TOOLS);
    host = await netns.add("scale");
    await netns.ip(host, `link add ${BRIDGE} mtu 1350 type bridge`);
    await netns.ip(host, `address add ${LOCAL}/24 dev ${BRIDGE}`);
    await netns.ip(host, `link set ${BRIDGE} up`);
  });
  after(() => netns.cleanup());

  /** The VXLAN remotes and permanent neighbour entries the kernel holds on the device. */
  async function kernelCounts(): Promise<{ fdb: number; neigh: number }> {
    const dev = vxlanName(4343);
    const fdb = await nsExec(host)("bridge", ["-json", "fdb", "show", "dev", dev]);
    const neigh = await nsExec(host)("ip", ["-json", "neigh", "show", "dev", dev]);
    type Fdb = { mac: string; dst?: string };
    type Neigh = { state: string[] };
    return {
      fdb: (JSON.parse(fdb.stdout) as Fdb[]).filter((e) => e.dst && e.mac !== "00:00:00:00:00:00").length,
      neigh: (JSON.parse(neigh.stdout) as Neigh[]).filter((e) => e.state.includes("PERMANENT")).length,
    };
  }

  void it("programs 5,000 entries, then one more with only its operations and no read", async (t) => {
    const { exec, calls } = counting(nsExec(host));
    const overlay = new IprouteOverlay({ exec, logger: silentLogger });
    const started = performance.now();
    await overlay.reconcile(desired(COUNT), { full: true });
    const firstMs = performance.now() - started;
    assert.deepEqual(await kernelCounts(), { fdb: COUNT, neigh: COUNT });
    const batches = calls.filter((c) => c.endsWith("-batch -"));
    assert.equal(batches.length, 4, "device, then FDB and neighbours in runs of at most 5,000 lines");

    calls.length = 0;
    const t2 = performance.now();
    const report = await overlay.reconcile(desired(COUNT + 1), { full: false });
    const changeMs = performance.now() - t2;
    assert.deepEqual(calls, ["bridge -batch -", "ip -batch -"]);
    assert.deepEqual(report.applied, [
      `add fdb ${endpoint(COUNT + 1).mac} dst ${endpoint(COUNT + 1).peer} on vxw4343`,
      `set neighbour 10.200.19.137 lladdr ${endpoint(COUNT + 1).mac} on vxw4343`,
    ]);
    assert.deepEqual(await kernelCounts(), { fdb: COUNT + 1, neigh: COUNT + 1 });

    calls.length = 0;
    const t3 = performance.now();
    assert.deepEqual((await overlay.reconcile(desired(COUNT + 1), { full: true })).applied, []);
    const fullMs = performance.now() - t3;
    assert.equal(calls.filter(isRead).length, 3);
    assert.equal(calls.length, 3, "a full pass over a kernel that matches only reads");
    t.diagnostic(
      `first pass (5,000 endpoints: ${COUNT} FDB + ${COUNT} neighbour entries) ${firstMs.toFixed(0)} ms; ` +
        `one more endpoint, no read ${changeMs.toFixed(0)} ms; full pass that finds nothing to do ${fullMs.toFixed(0)} ms`,
    );
  });

  void it("NeighLimits in a namespace: the limits are the initial namespace's; nothing is written, entries land", async () => {
    const { exec, calls } = counting(nsExec(host));
    const lines: string[] = [];
    const limits = new NeighLimits({
      sysctl: new ExecSysctl(exec),
      logger: createLogger({ level: "debug", sink: (l) => lines.push(l) }),
    });
    await limits.ensure(neighCounts(desired(COUNT + 1)), true);
    assert.equal(calls.filter((c) => c.startsWith("sysctl -qw")).length, 0);
    assert.ok(lines.some((l) => l.includes("not readable")));
    // Permanent entries do not count against gc_thresh3 (Linux 4.20+): 5,001 landed above.
    assert.deepEqual(await kernelCounts(), { fdb: COUNT + 1, neigh: COUNT + 1 });
  });

  void it("ExecSysctl reads and writes the namespace's own keys; a missing key reads as absent", async () => {
    const sysctl = new ExecSysctl(nsExec(host));
    const key = `net.ipv4.neigh.${BRIDGE}.ucast_solicit`;
    await sysctl.write([[key, "7"]]);
    assert.deepEqual(await sysctl.read([key, "net.ipv4.neigh.default.gc_thresh3"]), { [key]: "7" });
    await assert.rejects(
      sysctl.write([["net.ipv4.neigh.default.gc_thresh3", "4096"]]),
      /Cannot write sysctl/,
    );
  });

  void it("kept batch processes: 50 changes in 2 processes; a device replaced behind weave's back is repaired", async (t) => {
    const { exec, calls } = counting(nsExec(host));
    const batches = new KeptBatches({ prefix: ["nsenter", `--net=/run/netns/${host}`, "--"] });
    const overlay = new IprouteOverlay({ exec, logger: silentLogger, batches });
    try {
      await overlay.reconcile(desired(COUNT + 1), { full: true });
      calls.length = 0;
      const started = performance.now();
      for (let n = COUNT + 2; n <= COUNT + 51; n++) {
        // A slice, as TransportSync passes one change: the endpoint's entries only.
        const [net] = desired(0) as [OverlayNetwork];
        const e = endpoint(n);
        const only = { macs: new Set([e.mac]), ips: new Set([e.ipv4 as string]), flood: false };
        await overlay.reconcile([{ ...net, endpoints: [e] }], { full: false, only });
      }
      const perChange = (performance.now() - started) / 50;
      assert.deepEqual(calls, [], "no process per change");
      assert.equal(batches.started, 2, "one ip and one bridge process for all 50 changes");
      assert.deepEqual(await kernelCounts(), { fdb: COUNT + 51, neigh: COUNT + 51 });

      // The device is deleted and made again by someone else: the kept processes' cached index is
      // stale, the next change fails with it, and the retry reads the kernel and refills the device.
      const dev = vxlanName(4343);
      await netns.ip(host, `link del ${dev}`);
      await netns.ip(
        host,
        `link add ${dev} mtu 1350 type vxlan id 4343 local ${LOCAL} dstport 4789 nolearning proxy`,
      );
      await netns.ip(host, `link set ${dev} master ${BRIDGE} up`);
      await overlay.reconcile(desired(COUNT + 52), { full: false });
      assert.deepEqual(await kernelCounts(), { fdb: COUNT + 52, neigh: COUNT + 52 });
      assert.ok(batches.started >= 4, "the stale processes were replaced");
      t.diagnostic(`one endpoint through kept processes: ${perChange.toFixed(1)} ms per change`);
    } finally {
      batches.reset();
    }
  });
});
