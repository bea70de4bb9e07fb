/**
 * End to end on one Docker host: weave launched as a user would, a real dockerd 20.10, the test
 * image built from busybox-static. Covers the daemon, the driver, the IPAM, the data plane and the CLI.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { requireE2E, TEST_IMAGE, WEAVE_BIN } from "./harness/index.js";
import {
  canPing,
  containerIp,
  createOutside,
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

describe("weave on one Docker host", { skip, timeout: 600_000 }, () => {
  let host: Host;

  before(async () => {
    host = await launchedHost("drv");
  });

  after(async () => {
    await host?.destroy();
  });

  test("launch leaves a 0660 plugin socket and the default network weave", async () => {
    const mode = ok(await host.sh("stat -c '%a %U' /run/docker/plugins/weave.sock"));
    assert.equal(mode, "660 root");
    const driver = ok(
      await host.docker(["network", "inspect", "-f", "{{.Driver}} {{.IPAM.Driver}}", "weave"]),
    );
    assert.equal(driver, "weave weave");
    const subnet = ok(
      await host.docker(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "weave"]),
    );
    assert.match(subnet, /^10\.(3[2-9]|4[0-7])\.\d+\.0\/24$/, "subnet carved from 10.32.0.0/12");
    ok(await host.sh("ip link show weave type bridge"), "bridge weave");
  });

  test("weave launch twice says it is already running", async () => {
    const err = fails(await host.weave(["launch"]));
    assert.match(err, /already running/);
  });

  test("two containers on weave reach each other through ethwe0 with one MTU", async () => {
    const a = await runSleeper(host, uniq("a"), ["--net=weave"]);
    const b = await runSleeper(host, uniq("b"), ["--net=weave"]);
    const ipB = await containerIp(host, b, "weave");
    assert.ok(await canPing(host, a, ipB), "a pings b");
    const link = ok(await host.docker(["exec", a, "ip", "-o", "link", "show", "ethwe0"]));
    const mtu = /mtu (\d+)/.exec(link)?.[1];
    const bridgeMtu = ok(await host.sh("cat /sys/class/net/weave/mtu"));
    assert.equal(mtu, bridgeMtu, "container MTU equals the bridge MTU");
    const route = ok(await host.docker(["exec", a, "ip", "route"]));
    assert.match(route, /default via 10\.\d+\.\d+\.1 dev ethwe0/);
    assert.doesNotMatch(ok(await host.docker(["exec", a, "ip", "-o", "link"])), /eth1/, "no docker_gwbridge");
    ok(await host.docker(["rm", "-f", a, b]));
  });

  test("--subnet, --ip-range, --gateway and --aux-address are honoured; --ip is exact", async () => {
    const net = uniq("ipam");
    await weaveNetwork(
      host,
      "--subnet",
      "10.99.0.0/24",
      "--ip-range",
      "10.99.0.128/25",
      "--gateway",
      "10.99.0.254",
      "--aux-address",
      "reserved=10.99.0.10",
      net,
    );
    const c1 = await runSleeper(host, uniq("c"), [`--net=${net}`]);
    const ip1 = await containerIp(host, c1, net);
    assert.equal(ip1, "10.99.0.128", "first address of the ip-range");
    const gw = ok(await host.docker(["exec", c1, "ip", "route"]));
    assert.match(gw, /default via 10\.99\.0\.254/);
    const c2 = await runSleeper(host, uniq("c"), [`--net=${net}`, "--ip", "10.99.0.50"]);
    assert.equal(await containerIp(host, c2, net), "10.99.0.50");
    const dup = fails(
      await host.docker(["run", "-d", `--net=${net}`, "--ip", "10.99.0.50", TEST_IMAGE, "sleep", "1"]),
    );
    assert.match(dup, /10\.99\.0\.50.*already in use/);
    const outside = fails(
      await host.docker(["run", "-d", `--net=${net}`, "--ip", "10.98.0.5", TEST_IMAGE, "sleep", "1"]),
    );
    assert.match(outside, /10\.98\.0\.5/);
    ok(await host.docker(["rm", "-f", c2]));
    const c3 = await runSleeper(host, uniq("c"), [`--net=${net}`, "--ip", "10.99.0.50"]);
    assert.equal(await containerIp(host, c3, net), "10.99.0.50", "released address can be requested again");
    const overlap = fails(
      await host.docker([
        "network",
        "create",
        "-d",
        "weave",
        "--ipam-driver",
        "weave",
        "--subnet",
        "10.99.0.0/16",
        uniq("ov"),
      ]),
    );
    assert.match(overlap, /overlaps/);
    ok(await host.docker(["rm", "-f", c1, c3]));
    ok(await host.docker(["network", "rm", net]));
  });

  test("--ipv6 networks are dual-stack, with a carved ULA /64 or the given subnet", async () => {
    const auto = uniq("v6a");
    const given = uniq("v6b");
    await weaveNetwork(host, "--ipv6", auto);
    await weaveNetwork(host, "--ipv6", "--subnet", "fd00:10::/64", given);
    const subnets = ok(
      await host.docker(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", auto]),
    );
    assert.match(subnets, /^10\.\d+\.\d+\.0\/24 fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    const a = await runSleeper(host, uniq("a"), [`--net=${auto}`]);
    const b = await runSleeper(host, uniq("b"), [`--net=${auto}`]);
    const ip6 = ok(
      await host.docker([
        "inspect",
        "-f",
        `{{(index .NetworkSettings.Networks "${auto}").GlobalIPv6Address}}`,
        b,
      ]),
    );
    assert.match(ip6, /^fd/);
    ok(await host.docker(["exec", a, "ping", "-6", "-c", "2", "-W", "2", ip6]), "ping over IPv6");
    const c = await runSleeper(host, uniq("c"), [`--net=${given}`]);
    const ip6c = ok(
      await host.docker([
        "inspect",
        "-f",
        `{{(index .NetworkSettings.Networks "${given}").GlobalIPv6Address}}`,
        c,
      ]),
    );
    assert.equal(ip6c, "fd00:10::2");
    assert.equal(
      (await host.docker(["exec", a, "ping", "-6", "-c", "1", "-W", "1", ip6c])).code !== 0,
      true,
      "IPv6 is isolated between networks too",
    );
    ok(await host.docker(["rm", "-f", a, b, c]));
    ok(await host.docker(["network", "rm", auto, given]));
  });

  test("networks without --subnet get distinct free subnets", async () => {
    const n1 = uniq("auto");
    const n2 = uniq("auto");
    await weaveNetwork(host, n1);
    await weaveNetwork(host, n2);
    const s = async (n: string) =>
      ok(await host.docker(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", n]));
    const [s1, s2, sw] = [await s(n1), await s(n2), await s("weave")];
    assert.notEqual(s1, s2);
    assert.notEqual(s1, sw);
    assert.notEqual(s2, sw);
    ok(await host.docker(["network", "rm", n1, n2]));
  });

  test("weave IPAM also serves Docker's bridge driver, from the same range", async () => {
    const net = uniq("brw");
    ok(await host.docker(["network", "create", "-d", "bridge", "--ipam-driver", "weave", net]));
    const c = await runSleeper(host, uniq("c"), [`--net=${net}`]);
    assert.match(await containerIp(host, c, net), /^10\.(3[2-9]|4[0-7])\.\d+\.\d+$/);
    ok(await host.docker(["rm", "-f", c]));
    ok(await host.docker(["network", "rm", net]));
  });

  test("Docker's default IPAM works with the weave driver", async () => {
    const net = uniq("dflt");
    ok(await host.docker(["network", "create", "-d", "weave", net]));
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`]);
    const b = await runSleeper(host, uniq("b"), [`--net=${net}`]);
    assert.ok(await canPing(host, a, await containerIp(host, b, net)));
    ok(await host.docker(["rm", "-f", a, b]));
    ok(await host.docker(["network", "rm", net]));
  });

  test("two weave networks are isolated; internal networks have no way out; others reach outside", async () => {
    const outside = await createOutside(host);
    const netA = uniq("isoa");
    const netB = uniq("isob");
    const netI = uniq("isoi");
    try {
      await weaveNetwork(host, netA);
      await weaveNetwork(host, netB);
      await weaveNetwork(host, "--internal", netI);
      const a1 = await runSleeper(host, uniq("a"), [`--net=${netA}`]);
      const a2 = await runSleeper(host, uniq("a"), [`--net=${netA}`]);
      const b1 = await runSleeper(host, uniq("b"), [`--net=${netB}`]);
      const i1 = await runSleeper(host, uniq("i"), [`--net=${netI}`]);
      const i2 = await runSleeper(host, uniq("i"), [`--net=${netI}`]);
      const [ipA2, ipB1, ipI2] = [
        await containerIp(host, a2, netA),
        await containerIp(host, b1, netB),
        await containerIp(host, i2, netI),
      ];
      const ipI1 = await containerIp(host, i1, netI);
      assert.ok(await canPing(host, a1, ipA2), "same network: reachable");
      assert.ok(await canPing(host, i1, ipI2), "same internal network: reachable");
      assert.equal(await canPing(host, a1, ipB1), false, "A -> B blocked");
      assert.equal(await canPing(host, b1, ipA2), false, "B -> A blocked");
      assert.equal(await canPing(host, a1, ipI1), false, "A -> internal blocked");
      assert.equal(await canPing(host, i1, ipA2), false, "internal -> A blocked");
      assert.ok(await canPing(host, a1, outside.ip), "non-internal network reaches the outside");
      assert.equal(await canPing(host, i1, outside.ip), false, "internal network has no way out");
      assert.doesNotMatch(ok(await host.docker(["exec", i1, "ip", "route"])), /default/, "no default route");
      // Layer 2: an ARP for B's address from A gets no answer.
      const arp = await host.docker(["exec", a1, "arping", "-c", "2", "-w", "3", "-I", "ethwe0", ipB1]);
      assert.notEqual(arp.code, 0, "no ARP answer across networks");
      ok(await host.docker(["rm", "-f", a1, a2, b1, i1, i2]));
    } finally {
      await outside.destroy();
      await host.docker(["network", "rm", netA, netB, netI]);
    }
    const rules = ok(await host.sh("nft list tables"));
    assert.match(rules, /inet weave/);
  });

  test("network rm removes the bridge and its rules", async () => {
    const net = uniq("gone");
    await weaveNetwork(host, net);
    const id = ok(await host.docker(["network", "inspect", "-f", "{{.Id}}", net]));
    const bridge = `weave-${id.slice(0, 9)}`;
    ok(await host.sh(`ip link show ${bridge}`));
    assert.match(ok(await host.sh("nft list ruleset")), new RegExp(bridge));
    ok(await host.docker(["network", "rm", net]));
    assert.notEqual((await host.sh(`ip link show ${bridge}`)).code, 0, "bridge removed");
    assert.doesNotMatch(ok(await host.sh("nft list ruleset")), new RegExp(bridge), "rules removed");
  });

  test("bad requests get Docker-format errors and leave the daemon and its state alone", async () => {
    const before = await weaveStatus(host);
    const post = async (path: string, body: string) =>
      ok(
        await host.sh(
          `curl -s --unix-socket /run/docker/plugins/weave.sock -X POST -d '${body}' http://weave/${path}`,
        ),
      );
    assert.match(await post("NetworkDriver.CreateNetwork", "{not json"), /"Err":"Invalid .*malformed JSON/);
    assert.match(await post("NetworkDriver.CreateEndpoint", '{"NetworkID":1}'), /"Err":".*NetworkID.*string/);
    assert.match(
      await post("NetworkDriver.Join", '{"NetworkID":"nope","EndpointID":"nope","SandboxKey":""}'),
      /"Err":".*nope.*not/,
    );
    assert.match(
      await post("IpamDriver.RequestAddress", '{"PoolID":"nope","Address":""}'),
      /"Error":".*nope/,
    );
    const big = ok(
      await host.sh(
        "head -c 2000000 /dev/zero | tr '\\0' a | curl -s -o /dev/null -w '%{http_code}' --unix-socket /run/docker/plugins/weave.sock -X POST --data-binary @- http://weave/NetworkDriver.CreateNetwork",
      ),
    );
    assert.equal(big, "413");
    const after = await weaveStatus(host);
    assert.deepEqual(after.networks, before.networks, "state untouched");
  });

  test("weave status and weave ps show networks and containers", async () => {
    const c = await runSleeper(host, uniq("ps"), ["--net=weave"]);
    const ip = await containerIp(host, c, "weave");
    const mac = ok(
      await host.docker(["inspect", "-f", '{{(index .NetworkSettings.Networks "weave").MacAddress}}', c]),
    );
    const ps = ok(await host.weave(["ps"]));
    const line = ps.split("\n").find((l) => l.startsWith(c));
    assert.ok(line, `weave ps lists ${c}:\n${ps}`);
    assert.match(line, new RegExp(`${c}\\s+weave\\s+${mac}\\s+${ip.replaceAll(".", "\\.")}/24`));
    const status = ok(await host.weave(["status"]));
    assert.match(status, /Version: \d+\.\d+\.\d+/);
    assert.match(status, /Plugin socket: \/run\/docker\/plugins\/weave\.sock/);
    assert.match(status, /State dir: \/var\/lib\/weave/);
    assert.match(status, /^weave\s+\w{12}\s+weave\s+10\.\d+\.\d+\.0\/24\s+no\s+1$/m);
    assert.match(status, /Cluster: none \(this host alone\)/);
    // The multi-host commands say why they cannot work on a host alone.
    const peers = await host.weave(["status", "peers"]);
    assert.equal(peers.code, 1);
    assert.match(peers.stderr, /not in a cluster \(weave was launched without --store\)/);
    const rmpeer = await host.weave(["rmpeer"]);
    assert.equal(rmpeer.code, 2);
    assert.match(rmpeer.stderr, /Usage: weave rmpeer NAME/);
    ok(await host.docker(["rm", "-f", c]));
    assert.match(ok(await host.weave(["version"])), /^weave \d+\.\d+\.\d+/);
  });

  test("the CLI says clearly when it is not root or the daemon is not running", async () => {
    const nobody = await host.exec([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      WEAVE_BIN,
      "status",
    ]);
    assert.equal(nobody.code, 4, nobody.stderr);
    assert.match(nobody.stderr, /run weave as root/);
    const launch = await host.exec([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      WEAVE_BIN,
      "launch",
    ]);
    assert.match(launch.stderr, /must run as root/);
    const other = await host.weave(["status", "--run-dir", "/run/weave-nothing"]);
    assert.equal(other.code, 3);
    assert.match(other.stderr, /weave is not running/);
  });

  test("weave stop removes the socket; containers keep their network; launch brings it back", async () => {
    const a = await runSleeper(host, uniq("a"), ["--net=weave"]);
    const b = await runSleeper(host, uniq("b"), ["--net=weave"]);
    const ipB = await containerIp(host, b, "weave");
    ok(await host.weave(["stop"]));
    assert.notEqual((await host.sh("test -e /run/docker/plugins/weave.sock")).code, 0, "socket removed");
    assert.ok(await canPing(host, a, ipB), "traffic continues while weave is stopped");
    ok(await host.weave(["launch"]));
    ok(await host.docker(["rm", "-f", a, b]));
    // Docker's plugin client reconnects to the new daemon with a back-off of about a second.
    await eventually("no veth left", async () => (await weaveVeths(host)).length === 0);
    await eventually(
      "no endpoint left",
      async () => (await weaveStatus(host)).networks.find((n) => n.name === "weave")?.endpoints === 0,
    );
  });
});
