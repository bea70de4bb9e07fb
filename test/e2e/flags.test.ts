/**
 * End to end: every launch flag and its WEAVE_* twin does what `weave launch --help` says.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FLAGS } from "../../src/config/index.js";
import type { Host } from "./harness/index.js";
import { createHost, requireE2E } from "./harness/index.js";
import { containerIp, eventually, fails, ok, runSleeper, uniq } from "./lib.js";

const skip = requireE2E();

describe("weave launch flags", { skip, timeout: 600_000 }, () => {
  let host: Host;

  before(async () => {
    host = await createHost({ name: "flg" });
    await host.loadTestImage();
  });

  after(async () => {
    await host?.destroy();
  });

  test("--help lists every flag with its environment twin", async () => {
    const help = ok(await host.weave(["launch", "--help"]));
    for (const f of FLAGS) {
      assert.match(help, new RegExp(`${f.flag}\\b`), `${f.flag} in --help`);
      assert.match(help, new RegExp(`env: ${f.env}\\b`), `${f.env} in --help`);
    }
  });

  test("invalid and unknown flags are refused with the flag named", async () => {
    const mtu = await host.weave(["launch", "--mtu", "12"]);
    assert.equal(mtu.code, 2);
    assert.match(mtu.stderr, /--mtu/);
    const level = await host.weave(["launch"], { env: { WEAVE_LOG_LEVEL: "loud" } });
    assert.equal(level.code, 2);
    assert.match(level.stderr, /--log-level \(WEAVE_LOG_LEVEL\)/);
    const unknown = await host.weave(["launch", "--cluster-store", "x"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown flag "--cluster-store"/);
    assert.match(fails(await host.weave(["launch", "--ipalloc-range", "10.0.0.1/8"])), /host bits/);
    assert.match(fails(await host.weave(["launch", "--nameserver", "dns"])), /--nameserver/);
    assert.match(fails(await host.weave(["launch", "--socket-group", "no-such-group"])), /Unknown group/);
    assert.match(
      fails(await host.weave(["launch", "--store", "http://10.0.0.1:2379"])),
      /--store.*etcd:\/\//,
    );
    assert.match(fails(await host.weave(["launch", "--advertise-addr", "fd00::1"])), /--advertise-addr/);
    assert.match(fails(await host.weave(["launch", "--vxlan-port", "0"])), /--vxlan-port/);
    assert.match(fails(await host.weave(["launch", "--name", "-x"])), /--name/);
  });

  test("non-default flags and WEAVE_* variables take effect", async () => {
    const env = { WEAVE_LOG_LEVEL: "debug", WEAVE_MTU: "1380", WEAVE_DEFAULT_NETWORK: "wnet" };
    ok(
      await host.weave(
        [
          "launch",
          "--socket",
          "/run/docker/plugins/weave.sock",
          "--socket-group",
          "65534",
          "--nameserver",
          "10.32.99.99",
          "--ipalloc-range",
          "10.150.0.0/16",
          "--state-dir",
          "/var/lib/weave/alt",
          "--run-dir",
          "/run/weave-alt",
          "--docker-socket",
          "/var/run/docker.sock",
          "--log-file",
          "/var/log/weave-alt.log",
        ],
        { env },
      ),
      "weave launch with flags",
    );
    try {
      assert.equal(ok(await host.sh("stat -c '%a %g' /run/docker/plugins/weave.sock")), "660 65534");
      assert.equal(ok(await host.sh("test -f /var/lib/weave/alt/weave.db && echo yes")), "yes");
      await eventually(
        "default network wnet",
        async () => (await host.docker(["network", "inspect", "wnet"])).code === 0,
      );
      const subnet = ok(
        await host.docker(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "wnet"]),
      );
      assert.match(subnet, /^10\.150\.\d+\.0\/24$/);
      assert.equal(ok(await host.sh("cat /sys/class/net/weave/mtu")), "1380");
      const c = await runSleeper(host, uniq("f"), ["--net=wnet"]);
      await containerIp(host, c, "wnet");
      assert.match(ok(await host.docker(["exec", c, "ip", "-o", "link", "show", "ethwe0"])), /mtu 1380/);
      assert.match(ok(await host.docker(["exec", c, "ip", "route"])), /10\.32\.99\.99 dev ethwe0/);
      ok(await host.docker(["rm", "-f", c]));
      const log = ok(await host.sh("cat /var/log/weave-alt.log"));
      assert.match(log, /"level":"debug"/);
      assert.match(log, /"msg":"plugin call"/);
      const status = ok(await host.weave(["status", "--run-dir", "/run/weave-alt"]));
      assert.match(status, /State dir: \/var\/lib\/weave\/alt/);
      assert.equal((await host.weave(["status"])).code, 3, "the default run dir has no daemon");
      // While weave runs: with the plugin down, Docker retries its calls for about 45 s.
      ok(await host.docker(["network", "rm", "wnet"]));
    } finally {
      ok(await host.weave(["stop", "--run-dir", "/run/weave-alt"]));
    }
  });

  test("--foreground runs until SIGTERM, then removes its sockets", async () => {
    const daemon = host.weave(["launch", "--foreground", "--default-network", ""]);
    await eventually(
      "plugin socket",
      async () => (await host.sh("test -S /run/docker/plugins/weave.sock")).code === 0,
    );
    await eventually("pid file", async () => (await host.sh("test -s /run/weave/weave.pid")).code === 0);
    const out = await host.weave(["status"]);
    ok(out, "status of the foreground daemon");
    ok(await host.sh("kill -TERM $(cat /run/weave/weave.pid)"));
    const res = await daemon;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /"msg":"weave stopped"/);
    assert.notEqual(
      (await host.sh("test -e /run/docker/plugins/weave.sock")).code,
      0,
      "plugin socket removed",
    );
    assert.notEqual((await host.sh("test -e /run/weave/weave.sock")).code, 0, "control socket removed");
  });
});
