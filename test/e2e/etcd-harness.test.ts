/**
 * Self-test of the harness's etcd: it runs in the underlay switch's namespace, every host on the
 * underlay reaches it at the switch's address, it keeps its data across a stop and a start, and
 * destroying it leaves no process and no directory behind.
 */
import assert from "node:assert/strict";
import { existsSync, readlinkSync } from "node:fs";
import { after, describe, test } from "node:test";
import {
  type Host,
  createHost,
  createUnderlay,
  destroyAll,
  isAlive,
  namedNetns,
  requireE2E,
  startEtcd,
} from "./harness/index.js";
import { ok } from "./lib.js";

const skip = requireE2E(["etcd"]);
const TIMEOUT = { timeout: 300_000 };

/** `busybox wget` from inside `host` (its network namespace) to etcd's v3 JSON gateway. */
function wget(host: Host, url: string, body?: unknown) {
  const post =
    body === undefined
      ? []
      : ["--header", "Content-Type: application/json", "--post-data", JSON.stringify(body)];
  return host.exec(["busybox", "wget", "-q", "-Y", "off", "-O", "-", ...post, url], { timeoutMs: 10_000 });
}

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

void describe("e2e harness: etcd on the underlay", { skip }, () => {
  after(() => destroyAll());

  void test(
    "hosts reach etcd; its data survives a stop and a start; destroy removes it",
    TIMEOUT,
    async () => {
      const underlay = await createUnderlay();
      const hosts = [await createHost({ name: "et1" }), await createHost({ name: "et2" })];
      for (const h of hosts) await underlay.attach(h);

      const etcd = await startEtcd(underlay);
      assert.equal(etcd.clientUrl, `http://${underlay.gateway}:2379`);
      assert.equal(etcd.url, `etcd://${underlay.gateway}:2379`);
      const pid = etcd.pid;
      assert.ok(pid !== undefined && isAlive(pid));
      assert.equal(
        readlinkSync(`/proc/${pid}/ns/net`),
        namedNetns(underlay.name),
        "etcd runs in the switch's network namespace",
      );

      // Each host writes a key over the underlay; the harness reads both back.
      for (const [i, h] of hosts.entries()) {
        const res = await wget(h, `${etcd.clientUrl}/v3/kv/put`, {
          key: b64(`/t/h${i}`),
          value: b64(h.name),
        });
        ok(res, `put from ${h.name}`);
      }
      assert.deepEqual(await etcd.keys("/t/"), [
        { key: "/t/h0", value: hosts[0]?.name },
        { key: "/t/h1", value: hosts[1]?.name },
      ]);
      await etcd.put("/t/before-stop", "kept");
      assert.deepEqual(await etcd.keys("/t/b"), [{ key: "/t/before-stop", value: "kept" }]);
      assert.equal((await etcd.keys()).length, 3, "no other keys");

      // Stopped: hosts can no longer reach it, its data directory stays.
      await etcd.stop();
      assert.equal(etcd.pid, undefined);
      assert.ok(!isAlive(pid), "etcd exited");
      assert.ok(existsSync(etcd.dataDir));
      for (const h of hosts) {
        const res = await wget(h, `${etcd.clientUrl}/health`);
        assert.notEqual(res.code, 0, `${h.name} still reaches a stopped etcd: ${res.stdout}`);
      }
      assert.equal(await etcd.healthy(), false);

      // Started again with the same data: the key written before the stop is there, for the hosts too.
      await etcd.start();
      assert.notEqual(etcd.pid, pid);
      assert.deepEqual(await etcd.keys("/t/before"), [{ key: "/t/before-stop", value: "kept" }]);
      for (const h of hosts) {
        const res = ok(
          await wget(h, `${etcd.clientUrl}/v3/kv/range`, { key: b64("/t/before-stop") }),
          `range from ${h.name}`,
        );
        const kvs = (JSON.parse(res) as { kvs?: { value: string }[] }).kvs ?? [];
        assert.equal(Buffer.from(kvs[0]?.value ?? "", "base64").toString(), "kept");
      }

      // A crash (SIGKILL) and a start: still there.
      const second = etcd.pid;
      await etcd.kill();
      assert.ok(second !== undefined && !isAlive(second));
      await etcd.start();
      assert.equal((await etcd.keys("/t/")).length, 3);

      const last = etcd.pid;
      await etcd.destroy();
      await etcd.destroy(); // idempotent
      assert.ok(last !== undefined && !isAlive(last), "etcd is gone");
      assert.ok(!existsSync(etcd.dir), "etcd's directory is gone");
      await assert.rejects(etcd.start(), { code: "WEAVE_E2E_SETUP" });
    },
  );
});
