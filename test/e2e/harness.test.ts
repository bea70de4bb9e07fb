/**
 * Self-test of the e2e harness: a simulated host runs containers with its own dockerd at default
 * paths, survives a dockerd crash and restart, and leaves nothing behind when destroyed; two hosts
 * reach each other over an underlay with the MTU asked for; hosts on two segments reach each other (and
 * the first segment's switch, where etcd runs) through a router.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import {
  TEST_IMAGE,
  connectHosts,
  createHost,
  createRouter,
  createUnderlay,
  destroyAll,
  isAlive,
  namedNetns,
  processesIn,
  requireE2E,
  run,
} from "./harness/index.js";

const skip = requireE2E();
const TIMEOUT = { timeout: 300_000 };

void describe("e2e harness", { skip }, () => {
  after(() => destroyAll());

  void test(
    "a host runs containers, survives a dockerd SIGKILL and is removed without a trace",
    TIMEOUT,
    async () => {
      const keyBefore = existsSync("/etc/docker/key.json");
      const sockBefore = existsSync("/var/run/docker.sock");
      const started = Date.now();
      const host = await createHost({ name: "self" });
      const createMs = Date.now() - started;
      const nsPid = host.nsPid;
      const firstDockerd = host.dockerdPid;
      assert.ok(firstDockerd !== undefined);

      // dockerd runs with default paths, private to the host.
      const info = await host.docker(["info", "--format", "{{.DockerRootDir}} {{.Driver}}"], { check: true });
      assert.match(info.stdout, /^\/var\/lib\/docker \S+/);
      assert.ok(existsSync(host.rootPath("/run/docker.sock")));
      assert.ok(existsSync(host.rootPath("/run/docker/plugins")));
      assert.equal(existsSync("/var/run/docker.sock"), sockBefore, "the machine's /run is untouched");
      assert.equal(existsSync("/etc/docker/key.json"), keyBefore, "the machine's /etc/docker is untouched");
      // /sys belongs to the host's network namespace: only lo and docker0, not the machine's eth0.
      const links = await host.sh("ls /sys/class/net", { check: true });
      assert.deepEqual(links.stdout.split("\n").filter(Boolean).sort(), ["docker0", "lo"]);

      await host.loadTestImage();
      const hi = await host.docker(["run", "--rm", "--net=none", TEST_IMAGE, "echo", "hi"], { check: true });
      assert.equal(hi.stdout, "hi\n");

      // A crash: SIGKILL, then start again with the same data; the image is still there.
      await host.stopDockerd({ signal: "SIGKILL" });
      assert.equal(host.dockerdPid, undefined);
      assert.ok(!isAlive(firstDockerd));
      assert.notEqual((await host.docker(["info"], { timeoutMs: 10_000 })).code, 0);
      await host.startDockerd();
      assert.equal(host.nsPid, nsPid, "the host's mount namespace outlives dockerd");
      const again = await host.docker(["run", "--rm", TEST_IMAGE, "sh", "-c", "echo again"], { check: true });
      assert.equal(again.stdout, "again\n");

      // A container left running is cleaned up by destroy() too.
      await host.docker(["run", "-d", "--name", "sleeper", TEST_IMAGE, "sleep", "600"], { check: true });

      const netId = namedNetns(host.name);
      const mnt = readFileSync(`/proc/${nsPid}/mountinfo`, "utf8");
      assert.match(mnt, / \/var\/lib\/weave /);
      await host.destroy();
      await host.destroy(); // idempotent

      const netns = await run(["ip", "netns", "list"], { check: true });
      assert.ok(!netns.stdout.split("\n").some((l) => l.split(" ")[0] === host.name), "netns is gone");
      assert.equal(namedNetns(host.name), undefined);
      assert.ok(!isAlive(nsPid), "keeper is gone");
      assert.deepEqual(processesIn(netId, undefined), [], "no process left in the host's netns");
      assert.ok(!existsSync(host.dir), "host directory is gone");
      console.log(`# host creation took ${createMs} ms`);
    },
  );

  void test("two hosts talk over an underlay with the requested MTU", TIMEOUT, async () => {
    const [a, b] = await Promise.all([createHost({ name: "a" }), createHost({ name: "b" })]);
    const u = await connectHosts(a, b, { mtu: 1400 });
    assert.equal(a.address, "192.168.199.1");
    assert.equal(b.address, "192.168.199.2");
    const mtu = await a.sh("cat /sys/class/net/eth0/mtu", { check: true });
    assert.equal(mtu.stdout.trim(), "1400");
    const ping = await a.exec(["busybox", "ping", "-c", "1", "-W", "5", b.address]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    const route = await b.exec(["ip", "route", "show", "default"], { check: true });
    assert.match(route.stdout, new RegExp(`via ${u.gateway.replace(/\./g, "\\.")} dev eth0`));
    await destroyAll();
    const netns = await run(["ip", "netns", "list"], { check: true });
    for (const name of [a.name, b.name, u.name]) assert.ok(!netns.stdout.includes(name), `${name} is gone`);
  });

  void test("hosts on two segments reach each other through a router", TIMEOUT, async () => {
    const seg1 = await createUnderlay();
    const seg2 = await createUnderlay({ prefix: "192.168.198", mtu: 1400 });
    const [h1, h3] = await Promise.all([
      createHost({ name: "s1", underlay: seg1 }),
      createHost({ name: "s2", underlay: seg2 }),
    ]);
    const router = await createRouter([seg1, seg2]);
    // A host attached after the router was made gets the route too.
    const h2 = await createHost({ name: "s1b", underlay: seg1 });
    assert.deepEqual(
      [h1.address, h2.address, h3.address],
      ["192.168.199.1", "192.168.199.2", "192.168.198.1"],
    );
    assert.equal(router.addressOn(seg1), "192.168.199.253");
    for (const [from, to] of [
      [h3, h1],
      [h3, h2],
      [h1, h3],
    ] as const) {
      const ping = await from.exec(["busybox", "ping", "-c", "1", "-W", "5", to.address]);
      assert.equal(ping.code, 0, `${from.address} pings ${to.address}: ${ping.stdout}${ping.stderr}`);
    }
    // TTL 64 - 1: one router hop.
    const ttl = await h3.exec(["busybox", "ping", "-c", "1", "-W", "5", h1.address], { check: true });
    assert.match(ttl.stdout, /ttl=63/);
    // The first segment's switch address (where etcd listens) answers hosts on the second segment.
    const sw = await h3.exec(["busybox", "ping", "-c", "1", "-W", "5", seg1.gateway]);
    assert.equal(sw.code, 0, sw.stdout + sw.stderr);
    for (const h of [h1, h2]) {
      const get = await h.exec(["ip", "route", "get", h3.address], { check: true });
      assert.match(get.stdout, /via 192\.168\.199\.253 dev eth0/);
    }
    const back = await h3.exec(["ip", "route", "get", h1.address], { check: true });
    assert.match(back.stdout, /via 192\.168\.198\.253 dev eth0/);
    // Hosts on one segment still talk directly.
    const direct = await h1.exec(["ip", "route", "get", h2.address], { check: true });
    assert.doesNotMatch(direct.stdout, / via /);
    await destroyAll();
    const netns = await run(["ip", "netns", "list"], { check: true });
    for (const name of [h1.name, h2.name, h3.name, seg1.name, seg2.name, router.name])
      assert.ok(!netns.stdout.includes(name), `${name} is gone`);
  });
});
