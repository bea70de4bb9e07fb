/**
 * End to end on one Docker host: input weave must refuse (issue 9). A stray
 * IpamDriver.GetCapabilities opens the IPAM's replay window, yet `docker run --ip` of an address a
 * running container holds still fails and leaves nothing behind; CreateEndpoint and CreateNetwork
 * sent straight to the plugin socket with bad fields are refused naming the field; `docker network
 * create` with a bad gateway, aux address or subnet size is refused and leaves no network or pool.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { requireE2E, TEST_IMAGE } from "./harness/index.js";
import {
  canPing,
  containerIp,
  fails,
  launchedHost,
  ok,
  runSleeper,
  uniq,
  weaveStatus,
  weaveVeths,
} from "./lib.js";

const skip = requireE2E(["curl"]);
const SOCKET = "/run/docker/plugins/weave.sock";

/** POSTs a JSON body to weave's plugin socket; returns the HTTP status and the body. */
async function plugin(host: Host, method: string, body?: unknown): Promise<{ status: number; text: string }> {
  const data = body === undefined ? "" : `-d '${JSON.stringify(body)}'`;
  const out = ok(
    await host.sh(
      `curl -s -w '\\n%{http_code}' --unix-socket ${SOCKET} -X POST ${data} http://weave/${method}`,
    ),
    method,
  );
  const cut = out.lastIndexOf("\n");
  return { status: Number(out.slice(cut + 1)), text: out.slice(0, cut) };
}

describe("weave refuses invalid input on a real Docker host", { skip, timeout: 600_000 }, () => {
  let host: Host;
  let net: string;
  let netId: string;

  before(async () => {
    host = await launchedHost("hin");
    net = uniq("hin");
    ok(
      await host.docker([
        "network",
        "create",
        "-d",
        "weave",
        "--ipam-driver",
        "weave",
        "--subnet",
        "10.88.0.0/24",
        net,
      ]),
    );
    netId = ok(await host.docker(["network", "inspect", "-f", "{{.Id}}", net]));
  });

  after(async () => {
    await host?.destroy();
  });

  test("after a stray IpamDriver.GetCapabilities, docker run --ip of a held address fails and leaves nothing", async () => {
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`, "--ip", "10.88.0.10"]);
    const b = await runSleeper(host, uniq("b"), [`--net=${net}`]);
    const vethsBefore = (await weaveVeths(host)).sort();
    const caps = await plugin(host, "IpamDriver.GetCapabilities");
    assert.match(caps.text, /"RequiresRequestReplay":true/);

    const dup = uniq("dup");
    const err = fails(
      await host.docker([
        "run",
        "-d",
        "--name",
        dup,
        `--net=${net}`,
        "--ip",
        "10.88.0.10",
        TEST_IMAGE,
        "sleep",
        "60",
      ]),
      "docker run --ip of a held address",
    );
    assert.match(err, /Interface\.Address "10\.88\.0\.10" is already in use by endpoint [0-9a-f]{12}/);
    await host.docker(["rm", "-f", dup]); // Docker keeps the container it could not start

    // Nothing left behind: one endpoint per running container, the same veths, the address still
    // reserved for a (a second try is refused by the IPAM itself), and a still reachable at it.
    const status = await weaveStatus(host);
    assert.equal(status.networks.find((n) => n.name === net)?.endpoints, 2);
    assert.deepEqual((await weaveVeths(host)).sort(), vethsBefore);
    const again = fails(
      await host.docker(["run", "--rm", `--net=${net}`, "--ip", "10.88.0.10", TEST_IMAGE, "true"]),
    );
    assert.match(again, /10\.88\.0\.10.*already in use/);
    assert.equal(await containerIp(host, a, net), "10.88.0.10");
    assert.ok(await canPing(host, b, "10.88.0.10"), "b still reaches a at 10.88.0.10");
    const c = await runSleeper(host, uniq("c"), [`--net=${net}`]);
    assert.notEqual(await containerIp(host, c, net), "10.88.0.10", "a new container gets another address");
    ok(await host.docker(["rm", "-f", a, b, c]));
  });

  test("after a stray IpamDriver.GetCapabilities, a network on another network's subnet is refused and the first keeps everything", async () => {
    const caps = await plugin(host, "IpamDriver.GetCapabilities");
    assert.match(caps.text, /"RequiresRequestReplay":true/);
    const twin = uniq("twin");
    const createTwin = [
      "network",
      "create",
      "-d",
      "weave",
      "--ipam-driver",
      "weave",
      "--subnet",
      "10.88.0.0/24",
      twin,
    ];
    const err = fails(await host.docker(createTwin), "network create on a held subnet");
    assert.match(
      err,
      /Subnet "10\.88\.0\.0\/24" overlaps subnet "10\.88\.0\.0\/24" of weave network [0-9a-f]{12}/,
    );
    assert.notEqual((await host.docker(["network", "inspect", twin])).code, 0, "no second network");
    // The first network kept its pool and gateway: containers still get addresses and talk, and
    // the subnet is still refused to anyone else once the window is closed.
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`]);
    const b = await runSleeper(host, uniq("b"), [`--net=${net}`]);
    const ipA = await containerIp(host, a, net);
    assert.match(ipA, /^10\.88\.0\.(\d+)$/);
    assert.notEqual(ipA, "10.88.0.1", "the gateway address is not handed out");
    assert.ok(await canPing(host, b, ipA), "b reaches a");
    assert.ok(await canPing(host, b, "10.88.0.1"), "b reaches the gateway");
    assert.match(fails(await host.docker(createTwin)), /overlaps/);
    ok(await host.docker(["rm", "-f", a, b]));
  });

  test("CreateEndpoint with a bad AddressIPv6 or an IPv6 Address is refused naming the field", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { Address: "10.88.0.20/24", AddressIPv6: "fd00::zz/64" },
        /Interface\.AddressIPv6 \\"fd00::zz\/64\\": not an IPv6 address/,
      ],
      [
        { Address: "10.88.0.20/24", AddressIPv6: "fe80::1%eth0/64" },
        /Interface\.AddressIPv6 .*zone IDs are not allowed/,
      ],
      [
        { Address: "fd00::20/64", AddressIPv6: "" },
        /Interface\.Address \\"fd00::20\/64\\": not an IPv4 address/,
      ],
      [{ Address: "10.88.0.20/24", MacAddress: "01:00:5e:00:00:01" }, /Interface\.MacAddress .*multicast/],
    ];
    for (const [iface, message] of cases) {
      const res = await plugin(host, "NetworkDriver.CreateEndpoint", {
        NetworkID: netId,
        EndpointID: "e".repeat(64),
        Interface: { Address: "", AddressIPv6: "", MacAddress: "", ...iface },
        Options: {},
      });
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, message);
    }
    assert.equal((await weaveStatus(host)).networks.find((n) => n.name === net)?.endpoints, 0);
  });

  test("CreateNetwork sent directly with a gateway outside its pool or a bad aux address is refused", async () => {
    const before = (await weaveStatus(host)).networks.length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { Pool: "10.89.0.0/24", Gateway: "10.90.0.1/24" },
        /IPv4Data\[0\]\.Gateway \(--gateway\) .*not inside the subnet/,
      ],
      [
        { Pool: "10.89.0.0/24", Gateway: "10.89.0.1/24", AuxAddresses: { r: "10.89.0.1/24" } },
        /AuxAddresses\.r .*gateway/,
      ],
      [
        { Pool: "10.89.0.0/24", Gateway: "10.89.0.1/24", AuxAddresses: { r: "fd00::5" } },
        /AuxAddresses\.r .*not an IPv4/,
      ],
    ];
    for (const [data, message] of cases) {
      const res = await plugin(host, "NetworkDriver.CreateNetwork", {
        NetworkID: "f".repeat(64),
        Options: {},
        IPv4Data: [data],
        IPv6Data: [],
      });
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, message);
    }
    assert.equal((await weaveStatus(host)).networks.length, before);
    assert.notEqual((await host.sh("ip link show weave-fffffffff")).code, 0, "no bridge made");
  });

  test("docker network create with a bad gateway, aux address or subnet size is refused and leaves nothing", async () => {
    const before = (await weaveStatus(host)).networks.length;
    const create = (...args: string[]) =>
      host.docker(["network", "create", "-d", "weave", "--ipam-driver", "weave", ...args, uniq("bad")]);
    const cases: [string[], RegExp][] = [
      [["--subnet", "10.91.0.0/24", "--gateway", "10.92.0.1"], /10\.92\.0\.1/],
      [["--subnet", "10.91.0.0/24", "--aux-address", "r=10.92.0.5"], /10\.92\.0\.5/],
      [
        ["--subnet", "10.91.0.0/24", "--gateway", "10.91.0.1", "--aux-address", "r=10.91.0.1"],
        /10\.91\.0\.1.*already in use/,
      ],
      [
        ["--subnet", "10.0.0.0/7"],
        /Pool \(--subnet\) "10\.0\.0\.0\/7": too large; weave accepts IPv4 subnets from \/8 to \/30/,
      ],
      [["--subnet", "10.91.0.0/31"], /"10\.91\.0\.0\/31": too small/],
      [
        ["--ipv6", "--subnet", "fd00:91::/40"],
        /"fd00:91::\/40": too large; weave accepts IPv6 subnets from \/48 to \/126/,
      ],
    ];
    for (const [args, message] of cases) assert.match(fails(await create(...args), args.join(" ")), message);
    assert.equal((await weaveStatus(host)).networks.length, before, "no network recorded");
    // The subnet's pool was released every time: the same subnet can be used now.
    const good = uniq("good");
    ok(
      await host.docker([
        "network",
        "create",
        "-d",
        "weave",
        "--ipam-driver",
        "weave",
        "--subnet",
        "10.91.0.0/24",
        good,
      ]),
    );
    ok(await host.docker(["network", "rm", good]));
  });
});
