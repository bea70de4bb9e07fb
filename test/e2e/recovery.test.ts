/**
 * End to end: weave repairs what it finds at start. The kernel is reconciled with the state (lost
 * bridges and rules recreated, weave-owned orphans removed), a lost state directory is rebuilt from
 * Docker, the state files are private, a damaged database is refused naming the file (and the
 * documented way out works), and Docker's --live-restore keeps live allocations across a dockerd crash.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { requireE2E, TEST_IMAGE } from "./harness/index.js";
import {
  canPing,
  containerIp,
  eventually,
  fails,
  ok,
  runSleeper,
  uniq,
  weaveStatus,
  weaveVeths,
  weaveNetwork,
  launchedHost,
} from "./lib.js";
import { corruptMiddlePage } from "../helpers/sqlite-pages.js";

const skip = requireE2E();

async function linkExists(host: Host, name: string): Promise<boolean> {
  return (await host.sh(`ip link show ${name}`)).code === 0;
}

const STATE_DIR = "/var/lib/weave";
const STATE_DB = `${STATE_DIR}/weave.db`;

/** Modes ("0700", ...) of the state directory, weave.db, -wal and -shm, read inside the host. */
function stateModes(host: Host): string[] {
  return [STATE_DIR, STATE_DB, `${STATE_DB}-wal`, `${STATE_DB}-shm`].map(
    (path) => `0${(statSync(host.rootPath(path)).mode & 0o777).toString(8)}`,
  );
}

/** `weave stop` returns when the control socket closes; the database is closed (-wal gone) after. */
async function stopWeave(host: Host): Promise<void> {
  ok(await host.weave(["stop"]), "weave stop");
  await eventually("weave closed its database", async () => !existsSync(host.rootPath(`${STATE_DB}-wal`)));
}

/** The records of the host's weave log (`/var/log/weave.log`) with message `msg`. */
function logged(host: Host, msg: string): Record<string, unknown>[] {
  return readFileSync(host.rootPath("/var/log/weave.log"), "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((r) => r["msg"] === msg);
}

describe("weave recovery at start", { skip, timeout: 900_000 }, () => {
  let host: Host;
  let net: string;
  let bridge: string;

  before(async () => {
    host = await launchedHost("rcv");
    net = uniq("rcv");
    await weaveNetwork(host, "--subnet", "10.66.0.0/24", net);
    bridge = `weave-${ok(await host.docker(["network", "inspect", "-f", "{{.Id}}", net])).slice(0, 9)}`;
  });

  after(async () => {
    await host?.destroy();
  });

  test("a lost bridge and lost rules come back, weave-owned orphans go, foreign links stay", async () => {
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`]);
    const b = await runSleeper(host, uniq("b"), [`--net=${net}`]);
    const ipB = await containerIp(host, b, net);
    ok(await host.weave(["stop"]));
    ok(await host.sh(`ip link del ${bridge}`));
    ok(await host.sh("nft delete table inet weave"));
    ok(
      await host.sh(
        "ip link add weave-orphan type bridge && ip link add vwe0123456789 type veth peer name vwp0123456789",
      ),
    );
    ok(await host.sh("ip link add foreign0 type bridge"));
    assert.equal(await canPing(host, a, ipB), false, "without the bridge there is no traffic");
    ok(await host.weave(["launch"]));
    assert.ok(await linkExists(host, bridge), "bridge recreated at start");
    assert.ok(await canPing(host, a, ipB), "the containers' veths are back on the bridge");
    assert.match(ok(await host.sh("nft list table inet weave")), new RegExp(bridge), "rules recreated");
    await eventually(
      "orphans removed",
      async () => !(await linkExists(host, "weave-orphan")) && !(await linkExists(host, "vwe0123456789")),
    );
    assert.ok(await linkExists(host, "foreign0"), "a link weave does not own is left alone");
    ok(await host.sh("ip link del foreign0"));
    ok(await host.docker(["rm", "-f", a, b]));
    await eventually("no veth left", async () => (await weaveVeths(host)).length === 0);
  });

  test("a lost state directory is rebuilt from Docker, running containers included", async () => {
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`, "--ip", "10.66.0.40"]);
    const b = await runSleeper(host, uniq("b"), ["--net=weave"]);
    ok(await host.weave(["stop"]));
    ok(
      await host.sh("rm -f /var/lib/weave/weave.db /var/lib/weave/weave.db-wal /var/lib/weave/weave.db-shm"),
    );
    ok(await host.weave(["launch"]));
    await eventually("networks adopted", async () => {
      const s = await weaveStatus(host);
      return (
        s.networks.some((n) => n.name === net && n.endpoints === 1) &&
        s.networks.some((n) => n.name === "weave" && n.endpoints === 1)
      );
    });
    const c = await runSleeper(host, uniq("c"), [`--net=${net}`]);
    assert.ok(await canPing(host, c, "10.66.0.40"), "the adopted container is reachable from a new one");
    const dup = fails(
      await host.docker(["run", "-d", `--net=${net}`, "--ip", "10.66.0.40", TEST_IMAGE, "true"]),
    );
    assert.match(dup, /already in use/, "an adopted address is not given twice");
    ok(await host.docker(["rm", "-f", a, b, c]));
    await eventually("no veth left", async () => (await weaveVeths(host)).length === 0);
    const again = await runSleeper(host, uniq("d"), [`--net=${net}`, "--ip", "10.66.0.40"]);
    ok(await host.docker(["rm", "-f", again]));
  });

  test("the state is private: directory 0700, weave.db, -wal and -shm 0600, looser modes tightened at start", async () => {
    assert.deepEqual(stateModes(host), ["0700", "0600", "0600", "0600"]);
    await stopWeave(host);
    ok(await host.sh(`chmod 0755 ${STATE_DIR} && chmod 0644 ${STATE_DB}`));
    ok(await host.weave(["launch"]));
    assert.deepEqual(stateModes(host), ["0700", "0600", "0600", "0600"]);
    const dir = logged(host, "tightened the mode of the state directory").at(-1);
    assert.deepEqual([dir?.["path"], dir?.["oldMode"], dir?.["newMode"]], [STATE_DIR, "0755", "0700"]);
    const file = logged(host, "tightened the mode of a state file").at(-1);
    assert.deepEqual([file?.["path"], file?.["oldMode"], file?.["newMode"]], [STATE_DB, "0644", "0600"]);
  });

  test("a read-only state is refused naming the file and the cause: a read-only mount, an immutable weave.db", async () => {
    await stopWeave(host);
    // /var/lib/weave is a bind mount in the host's own mount namespace: make it read-only there.
    ok(await host.sh(`mount -o remount,bind,ro ${STATE_DIR}`));
    try {
      const stderr = fails(await host.weave(["launch"]), "weave launch on a read-only state directory");
      const expected =
        `The state database "${STATE_DB}" cannot be written (EROFS: read-only file system, access '${STATE_DIR}'); ` +
        `make "${STATE_DIR}" and the files in it writable by root`;
      assert.ok(stderr.includes(expected), stderr);
    } finally {
      ok(await host.sh(`mount -o remount,bind,rw ${STATE_DIR}`));
    }
    // SQLite opens a file it cannot write read-only, without a word: weave finds out at start.
    ok(await host.sh(`chattr +i ${STATE_DB}`));
    try {
      const stderr = fails(await host.weave(["launch"]), "weave launch with an immutable weave.db");
      const expected = `The state database "${STATE_DB}" cannot be written (attempt to write a readonly database)`;
      assert.ok(stderr.includes(expected), stderr);
    } finally {
      ok(await host.sh(`chattr -i ${STATE_DB}`));
    }
    ok(await host.weave(["launch"]));
  });

  test("a database damaged in its middle pages is refused naming the file; moving it aside recovers", async () => {
    await stopWeave(host);
    const { page, pages } = corruptMiddlePage(host.rootPath(STATE_DB));
    assert.ok(page > 1 && page < pages, `page ${page} of ${pages}`);
    const refused = await host.weave(["launch"]);
    const stderr = fails(refused, "weave launch over a damaged database");
    assert.match(
      stderr,
      new RegExp(
        `The state database "${STATE_DB}" is corrupt \\(.+\\); stop weave, move weave.db, weave.db-wal and ` +
          `weave.db-shm out of "${STATE_DIR}" and launch weave again: weave rebuilds what it can from Docker; ` +
          `see "Recovery" in docs/operations.md`,
      ),
    );
    // What docs/operations.md ("Starting over from Docker") says to do.
    ok(await host.sh(`mkdir /run/weave-broken && mv ${STATE_DB}* /run/weave-broken/`));
    ok(await host.weave(["launch"]));
    await eventually("the network is adopted again", async () =>
      (await weaveStatus(host)).networks.some((n) => n.name === net),
    );
    ok(await host.sh("rm -r /run/weave-broken"));
  });
});

describe("dockerd --live-restore", { skip, timeout: 600_000 }, () => {
  let host: Host;

  before(async () => {
    host = await launchedHost("live", { dockerdArgs: ["--live-restore"] });
  });

  after(async () => {
    await host?.destroy();
  });

  test("a dockerd crash keeps live allocations: traffic flows and the address stays taken", async () => {
    const net = uniq("lr");
    await weaveNetwork(host, "--subnet", "10.55.0.0/24", net);
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`, "--ip", "10.55.0.10"]);
    const b = await runSleeper(host, uniq("b"), [`--net=${net}`]);
    await host.stopDockerd({ signal: "SIGKILL" });
    await host.startDockerd();
    assert.ok(await canPing(host, b, "10.55.0.10"), "containers kept running and connected");
    const dup = fails(
      await host.docker(["run", "-d", `--net=${net}`, "--ip", "10.55.0.10", TEST_IMAGE, "true"]),
    );
    assert.match(dup, /already in use/);
    const c = await runSleeper(host, uniq("c"), [`--net=${net}`]);
    assert.notEqual(await containerIp(host, c, net), "10.55.0.10");
    ok(await host.docker(["rm", "-f", a, b, c]));
    await eventually("no veth left", async () => (await weaveVeths(host)).length === 0);
    const again = await runSleeper(host, uniq("d"), [`--net=${net}`, "--ip", "10.55.0.10"]);
    ok(await host.docker(["rm", "-f", again]));
  });
});
