/**
 * Self-test of the e2e harness: a simulated host runs containers with its own dockerd at default
 * paths, survives a dockerd crash and restart, and leaves nothing behind when destroyed; two hosts
 * reach each other over an underlay with the MTU asked for.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import {
  TEST_IMAGE,
  connectHosts,
  createHost,
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
});
