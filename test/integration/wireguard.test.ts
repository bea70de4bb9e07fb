/**
 * WireguardDevice against the real tools: two scratch "hosts" (namespaces joined by a veth underlay),
 * each with a WireGuard device (the kernel's, or wireguard-go where the kernel has none) whose only
 * peer is the other host, reached at its underlay address; traffic goes between the tunnel addresses.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import {
  derivePresharedKey,
  generateKeyPair,
  tunnelAddress,
  wireguardDeviceName,
} from "../../src/cluster/encryption.js";
import type { KeyPair } from "../../src/cluster/encryption.js";
import { execFile, silentLogger } from "../../src/core/index.js";
import { WireguardDevice } from "../../src/dataplane/index.js";
import type { WireguardSpec } from "../../src/dataplane/index.js";
import { assertRunnable, Netns, nsExec, ping, PING_TOOL, rootSkip } from "./helpers/netns.js";

const TOOLS = ["ip", "nsenter", "setsid", "wg", "wireguard-go", "pgrep", PING_TOOL];
const UNDER = { a: "192.168.252.1", b: "192.168.252.2" };
const PORT = 51820;
type Side = "a" | "b";
const other = (s: Side): Side => (s === "a" ? "b" : "a");

void describe("WireguardDevice between two scratch hosts (root)", { skip: rootSkip(TOOLS) }, () => {
  const netns = new Netns();
  const ns = { a: "", b: "" };
  const run = randomBytes(4).toString("hex");
  const name = { a: wireguardDeviceName(`${run}-a`), b: wireguardDeviceName(`${run}-b`) };
  const tunnel = { a: tunnelAddress(`${run}-a`), b: tunnelAddress(`${run}-b`) };
  const keys: Record<Side, KeyPair> = { a: generateKeyPair(), b: generateKeyPair() };
  const psk = { right: "", wrong: "" };
  const dev: Partial<Record<Side, WireguardDevice>> = {};
  const wg = (s: Side): WireguardDevice => dev[s] as WireguardDevice;
  const newDevice = (s: Side): WireguardDevice =>
    new WireguardDevice({ exec: nsExec(ns[s]), logger: silentLogger });

  /** Host `me`'s spec: the other host as its one peer, with preshared key `key`. */
  function spec(me: Side, key = psk.right): WireguardSpec {
    const o = other(me);
    return {
      name: name[me],
      privateKey: keys[me].privateKey,
      listenPort: PORT,
      address: `${tunnel[me]}/64`,
      mtu: 1380,
      peers: [
        {
          publicKey: keys[o].publicKey,
          presharedKey: key,
          endpoint: `${UNDER[o]}:${PORT}`,
          allowedIps: [`${tunnel[o]}/128`],
          persistentKeepalive: 25,
        },
      ],
    };
  }

  /** PIDs of `wireguard-go NAME`, found with pgrep (independently of the adapter). */
  async function pids(s: Side): Promise<number[]> {
    const res = await execFile("pgrep", ["-x", "-f", `wireguard-go ${name[s]}`], { check: false });
    return res.stdout.split("\n").filter(Boolean).map(Number);
  }

  /** The parent and session of process `pid` (/proc/PID/stat). */
  function stat(pid: number): { ppid: number; session: number } {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [, ppid, , session] = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(ppid), session: Number(session) };
  }

  /** Host `s`'s latest handshake with the other host (ms since the epoch, 0 when never). */
  async function handshake(s: Side): Promise<number> {
    const peer = (await wg(s).peers()).find((p) => p.publicKey === keys[other(s)].publicKey);
    return peer?.latestHandshake ?? 0;
  }

  before(async () => {
    assertRunnable(TOOLS);
    psk.right = await derivePresharedKey(`right ${run}`);
    psk.wrong = await derivePresharedKey(`wrong ${run}`);
    ns.a = await netns.add("wga");
    ns.b = await netns.add("wgb");
    await netns.ip(ns.a, `link add ula type veth peer name ulb netns ${ns.b}`);
    for (const s of ["a", "b"] as const) {
      const ul = s === "a" ? "ula" : "ulb";
      await netns.ip(ns[s], `address add ${UNDER[s]}/24 dev ${ul}`);
      await netns.ip(ns[s], `link set ${ul} up`);
      dev[s] = newDevice(s);
    }
  });

  after(async () => {
    for (const s of ["a", "b"] as const) await dev[s]?.reconcile(undefined).catch(() => undefined);
    await netns.cleanup();
    // Deleting a namespace deletes its tun devices, and wireguard-go exits with them; make sure.
    for (const s of ["a", "b"] as const) {
      for (const pid of await pids(s)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
      rmSync(`/run/wireguard/${name[s]}.sock`, { force: true });
    }
  });

  void it("creates a device on each host that carries traffic between the tunnel addresses", async (t) => {
    for (const s of ["a", "b"] as const) {
      const started = performance.now();
      const report = await wg(s).reconcile(spec(s));
      t.diagnostic(
        `${s}: reconcile that created the device took ${Math.round(performance.now() - started)} ms`,
      );
      assert.deepEqual(report.applied, [
        `create WireGuard device ${name[s]}`,
        `set the private key of ${name[s]}`,
        `set the listen port of ${name[s]} to ${PORT}`,
        `add peer ${keys[other(s)].publicKey} to ${name[s]}`,
        `add address ${tunnel[s]}/64 to ${name[s]}`,
        `set ${name[s]} mtu 1380 up`,
      ]);
      const link = await nsExec(ns[s])("ip", ["-json", "address", "show", "dev", name[s]]);
      const [info] = JSON.parse(link.stdout) as {
        mtu: number;
        flags: string[];
        addr_info: { local: string }[];
      }[];
      assert.equal(info?.mtu, 1380);
      assert.ok(info?.flags.includes("UP"));
      assert.ok(info?.addr_info.some((a) => a.local === tunnel[s]));
    }
    t.diagnostic(`implementation: ${wg("a").implementation}`);
    if (wg("a").implementation === "wireguard-go") {
      for (const s of ["a", "b"] as const) {
        assert.deepEqual(await pids(s), [wg(s).pid]);
        assert.ok(existsSync(`/run/wireguard/${name[s]}.sock`));
        // a daemon in its own session, no child of weave: it outlives weave being killed
        const go = stat(wg(s).pid ?? 0);
        const self = stat(process.pid);
        assert.notEqual(go.ppid, process.pid);
        assert.notEqual(go.session, self.session);
      }
    }
    assert.ok(await ping(ns.a, tunnel.b, 5), "a reaches b's tunnel address");
    assert.ok(await ping(ns.b, tunnel.a, 3), "b reaches a's tunnel address");
    for (const s of ["a", "b"] as const) {
      const [peer, ...rest] = await wg(s).peers();
      assert.deepEqual(rest, []);
      assert.equal(peer?.publicKey, keys[other(s)].publicKey);
      assert.equal(peer?.endpoint, `${UNDER[other(s)]}:${PORT}`);
      assert.ok(Date.now() - (peer?.latestHandshake ?? 0) < 60_000, "a recent handshake");
      assert.ok((peer?.rxBytes ?? 0) > 0 && (peer?.txBytes ?? 0) > 0);
    }
  });

  void it("does nothing on a second reconcile", async () => {
    const before = { pid: wg("a").pid, hs: await handshake("a") };
    for (const s of ["a", "b"] as const) assert.deepEqual((await wg(s).reconcile(spec(s))).applied, []);
    assert.equal(wg("a").pid, before.pid);
    assert.equal(await handshake("a"), before.hs);
  });

  void it("adds a peer without disturbing the session of the peer that stayed", async () => {
    const hs = await handshake("a");
    const extra = generateKeyPair().publicKey;
    const more = spec("a");
    more.peers.push({
      publicKey: extra,
      presharedKey: psk.right,
      endpoint: "192.168.252.9:51820",
      allowedIps: ["fd77:6561:7665:0:ffff:ffff:ffff:fff0/128"],
    });
    assert.deepEqual((await wg("a").reconcile(more)).applied, [`add peer ${extra} to ${name.a}`]);
    assert.ok(await ping(ns.a, tunnel.b, 3));
    assert.equal(await handshake("a"), hs, "the session with b was kept (no new handshake)");
    assert.deepEqual((await wg("a").reconcile(spec("a"))).applied, [`remove peer ${extra} from ${name.a}`]);
    assert.equal(await handshake("a"), hs);
  });

  void it("is adopted by a restarted weave without restarting wireguard-go or breaking traffic", async (t) => {
    const before = { a: await pids("a"), b: await pids("b") };
    const pinging = nsExec(ns.a)("ping", ["-c", "15", "-i", "0.2", "-W", "1", tunnel.b], {
      check: false,
      timeoutMs: 15_000,
    });
    await new Promise((r) => setTimeout(r, 500));
    for (const s of ["a", "b"] as const) {
      dev[s] = newDevice(s); // the old objects are dropped, as by a restart
      const started = performance.now();
      assert.deepEqual((await wg(s).reconcile(spec(s))).applied, []);
      t.diagnostic(`${s}: adopting reconcile took ${Math.round(performance.now() - started)} ms`);
    }
    const res = await pinging;
    assert.match(res.stdout, / 15 received/, res.stdout);
    assert.deepEqual({ a: await pids("a"), b: await pids("b") }, before);
    if (wg("a").implementation === "wireguard-go") assert.deepEqual([wg("a").pid], before.a);
  });

  void it("keeps working when one host rotates its key", async () => {
    const pid = wg("a").pid;
    const oldKey = keys.a.publicKey;
    keys.a = generateKeyPair();
    assert.deepEqual((await wg("a").reconcile(spec("a"))).applied, [`set the private key of ${name.a}`]);
    assert.deepEqual((await wg("b").reconcile(spec("b"))).applied, [
      `remove peer ${oldKey} from ${name.b}`,
      `add peer ${keys.a.publicKey} to ${name.b}`,
    ]);
    assert.ok(await ping(ns.a, tunnel.b, 10), "a reaches b with its new key");
    assert.ok(Date.now() - (await handshake("b")) < 30_000, "b shook hands with a's new key");
    assert.equal(wg("a").pid, pid);
  });

  void it("carries nothing when the preshared keys differ, and recovers when they agree", async () => {
    // A new key for a ends a's sessions and gives b a new peer, so only a new handshake could carry.
    const before = await handshake("a");
    keys.a = generateKeyPair();
    await wg("a").reconcile(spec("a", psk.wrong));
    await wg("b").reconcile(spec("b"));
    assert.equal(await ping(ns.a, tunnel.b, 3), false, "no traffic a -> b");
    assert.equal(await ping(ns.b, tunnel.a, 2), false, "no traffic b -> a");
    assert.equal(await handshake("a"), before, "a completed no new handshake");
    assert.equal(await handshake("b"), 0, "b never completed a handshake with a's new key");
    assert.deepEqual((await wg("a").reconcile(spec("a"))).applied, [
      `update peer ${keys.b.publicKey} on ${name.a} (preshared key)`,
    ]);
    assert.ok(await ping(ns.a, tunnel.b, 12), "a reaches b once the keys agree");
  });

  void it("makes anew a wireguard-go device whose process does not answer", async (t) => {
    if (wg("a").implementation !== "wireguard-go") return t.skip("the kernel has WireGuard");
    const [stuck] = await pids("a");
    assert.ok(stuck !== undefined);
    process.kill(stuck, "SIGSTOP"); // the tun device stays, its control socket stops answering
    try {
      const started = performance.now();
      const report = await wg("a").reconcile(spec("a"));
      t.diagnostic(`replacing a hung wireguard-go took ${Math.round(performance.now() - started)} ms`);
      assert.deepEqual(report.applied.slice(0, 2), [
        `delete WireGuard device ${name.a}`,
        `create WireGuard device ${name.a}`,
      ]);
    } finally {
      try {
        process.kill(stuck, "SIGKILL");
      } catch {
        // ended by the adapter
      }
    }
    const now = await pids("a");
    assert.equal(now.length, 1);
    assert.notEqual(now[0], stuck);
    assert.equal(wg("a").pid, now[0]);
    assert.ok(await ping(ns.a, tunnel.b, 12), "traffic flows through the new device");
  });

  void it("removes the device with reconcile(undefined), and wireguard-go ends", async () => {
    for (const s of ["a", "b"] as const) {
      const report = await wg(s).reconcile(undefined);
      assert.deepEqual(report.applied, [`delete WireGuard device ${name[s]}`]);
      assert.equal(wg(s).implementation, undefined);
      const link = await nsExec(ns[s])("ip", ["link", "show", "dev", name[s]], { check: false });
      assert.notEqual(link.code, 0);
      assert.deepEqual(await pids(s), []);
      assert.equal(existsSync(`/run/wireguard/${name[s]}.sock`), false);
      assert.deepEqual(await wg(s).peers(), []);
      assert.deepEqual((await wg(s).reconcile(undefined)).applied, []);
    }
  });
});
