/**
 * End to end: weave repairs what it finds at start. The kernel is reconciled with the state (lost
 * bridges and rules recreated, weave-owned orphans removed), a lost state directory is rebuilt from
 * Docker, and Docker's --live-restore keeps live allocations across a dockerd crash.
 */
import assert from "node:assert/strict";
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

const skip = requireE2E();

async function linkExists(host: Host, name: string): Promise<boolean> {
  return (await host.sh(`ip link show ${name}`)).code === 0;
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
