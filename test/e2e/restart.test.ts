/**
 * End to end: weave and dockerd restarts with containers running (clean and kill -9), as in
 * Docker's TestDockerNetworkDriverUngracefulRestart. Afterwards nothing is duplicated or leaked.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { requireE2E, TEST_IMAGE } from "./harness/index.js";
import {
  canPing,
  containerIp,
  eventually,
  ok,
  runSleeper,
  uniq,
  weaveStatus,
  weaveVeths,
  weaveNetwork,
  launchedHost,
} from "./lib.js";

const skip = requireE2E();

async function weavePid(host: Host): Promise<number> {
  return Number(ok(await host.sh("cat /run/weave/weave.pid")));
}

async function assertClean(host: Host, net: string): Promise<void> {
  await eventually("no weave veth left", async () => (await weaveVeths(host)).length === 0);
  const status = await weaveStatus(host);
  const n = status.networks.find((x) => x.name === net);
  assert.equal(n?.endpoints, 0, `no endpoint left on ${net}`);
}

describe("weave and dockerd restarts", { skip, timeout: 900_000 }, () => {
  let host: Host;
  let net: string;

  before(async () => {
    host = await launchedHost("rst");
    net = uniq("rnet");
    await weaveNetwork(host, "--subnet", "10.77.0.0/24", net);
  });

  after(async () => {
    await host?.destroy();
  });

  for (const how of ["clean", "kill -9"] as const) {
    test(`weave restart (${how}) keeps traffic flowing; afterwards everything works without leaks`, async () => {
      const a = await runSleeper(host, uniq("a"), [`--net=${net}`]);
      const b = await runSleeper(host, uniq("b"), [`--net=${net}`, "--ip", "10.77.0.100"]);
      const ipB = await containerIp(host, b, net);
      // A continuous ping across the restart: it must not lose more than a couple of packets.
      const pinger = host.docker(["exec", a, "ping", "-c", "30", "-i", "0.2", "-W", "1", ipB]);
      if (how === "clean") ok(await host.weave(["stop"]));
      else ok(await host.sh(`kill -9 ${await weavePid(host)}`));
      await new Promise((r) => setTimeout(r, 1000));
      ok(await host.weave(["launch"]), "weave launch after restart");
      const ping = await pinger;
      const loss = Number(/(\d+)% packet loss/.exec(ping.stdout)?.[1] ?? "100");
      assert.ok(loss <= 10, `packet loss ${loss}% across the restart:\n${ping.stdout}`);
      // New containers, the static IP is still taken, then everything is removed cleanly.
      const c = await runSleeper(host, uniq("c"), [`--net=${net}`]);
      const ipC = await containerIp(host, c, net);
      assert.notEqual(ipC, ipB);
      assert.ok(await canPing(host, c, ipB));
      const dup = await host.docker(["run", "-d", `--net=${net}`, "--ip", "10.77.0.100", TEST_IMAGE, "true"]);
      assert.notEqual(dup.code, 0, "a live static IP is not given twice");
      ok(await host.docker(["rm", "-f", a, b, c]));
      await assertClean(host, net);
      const again = await runSleeper(host, uniq("d"), [`--net=${net}`, "--ip", "10.77.0.100"]);
      ok(await host.docker(["rm", "-f", again]));
      await assertClean(host, net);
    });
  }

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    test(`dockerd restart (${signal}) with weave up: the same --ip works again, stale endpoints are gone`, async () => {
      const c = await runSleeper(host, uniq("s"), [`--net=${net}`, "--ip", "10.77.0.10"]);
      assert.equal(await containerIp(host, c, net), "10.77.0.10");
      await host.stopDockerd({ signal });
      await host.startDockerd();
      await host.docker(["rm", "-f", c]);
      const again = await runSleeper(host, uniq("s"), [`--net=${net}`, "--ip", "10.77.0.10"]);
      assert.equal(await containerIp(host, again, net), "10.77.0.10");
      ok(await host.docker(["rm", "-f", again]));
      await assertClean(host, net);
    });

    test(`dockerd restart (${signal}) with weave down: the same --ip works again, stale endpoints are gone`, async () => {
      const c = await runSleeper(host, uniq("w"), [`--net=${net}`, "--ip", "10.77.0.20"]);
      await host.stopDockerd({ signal });
      ok(await host.weave(["stop"]));
      // dockerd waits for the plugin while it starts (IPAM replay); weave comes back meanwhile.
      const starting = host.startDockerd(120_000);
      await new Promise((r) => setTimeout(r, 2000));
      ok(await host.weave(["launch"]), "weave launch while dockerd starts");
      await starting;
      await host.docker(["rm", "-f", c]);
      const again = await runSleeper(host, uniq("w"), [`--net=${net}`, "--ip", "10.77.0.20"]);
      assert.equal(await containerIp(host, again, net), "10.77.0.20");
      ok(await host.docker(["rm", "-f", again]));
      await assertClean(host, net);
    });
  }

  test("after all restarts the network can be removed and its bridge is gone", async () => {
    const id = ok(await host.docker(["network", "inspect", "-f", "{{.Id}}", net]));
    ok(await host.docker(["network", "rm", net]));
    assert.notEqual((await host.sh(`ip link show weave-${id.slice(0, 9)}`)).code, 0);
  });
});
