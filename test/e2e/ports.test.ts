/**
 * End to end: `docker run -p` on weave networks. One launched host ("web host") shares every case;
 * a second host on the same underlay plays "another machine" and only runs curl and a UDP client.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Host, Underlay } from "./harness/index.js";
import { createHost, createUnderlay, requireE2E, TEST_IMAGE } from "./harness/index.js";
import { containerIp, eventually, fails, ok, uniq, weaveNetwork } from "./lib.js";
import {
  curl,
  dnatFor,
  httpFrom,
  listening,
  portsTable,
  reaches,
  runWeb,
  udpRoundTrip,
} from "./ports-lib.js";

const skip = requireE2E(["curl", "conntrack", "ss", "nsenter", "nft"]);

describe("published ports (docker run -p)", { skip, timeout: 900_000 }, () => {
  let underlay: Underlay;
  let host: Host;
  let other: Host;
  let net: string;
  const containers: string[] = [];
  const web = async (args: string[], ports?: number[]): Promise<string> => {
    const name = await runWeb(host, uniq("web"), [`--net=${net}`, ...args], ports);
    containers.push(name);
    return name;
  };

  const tableDiag = async (): Promise<string> =>
    `${await portsTable(host)}\n${(await host.sh("conntrack -L 2>/dev/null | tail -20")).stdout}\n${(await host.sh("grep -E 'ports|error|warn' /var/log/weave.log | tail -40")).stdout}`;

  before(async () => {
    underlay = await createUnderlay();
    host = await createHost({ name: "ports", underlay });
    other = await createHost({ name: "client", underlay });
    await host.loadTestImage();
    ok(await host.weave(["launch"]), "weave launch");
    net = uniq("pnet");
    await weaveNetwork(host, "--subnet", "10.79.0.0/24", net);
  });

  after(async () => {
    if (host !== undefined && containers.length > 0) await host.docker(["rm", "-f", ...containers]);
    await other?.destroy();
    await host?.destroy();
    await underlay?.destroy();
  });

  test("-p 18080:80: reached from another machine with its source address, from the host (underlay and 127.0.0.1) and from the container itself", async () => {
    const name = await web(["-p", "18080:80"]);
    const ip = await containerIp(host, name, net);
    const url = `http://${host.address}:18080/`;
    await reaches(other, url, `hello from ${name}\n`, tableDiag);
    // No SNAT for another machine: the reply direction goes back to the client's own address.
    const ct = ok(await host.sh(`conntrack -L -p tcp --orig-port-dst 18080 -s ${other.address} 2>/dev/null`));
    assert.match(
      ct,
      new RegExp(`src=${other.address} dst=${host.address} .* src=${ip} dst=${other.address} `),
    );
    await reaches(host, url, `hello from ${name}\n`, tableDiag);
    await reaches(host, "http://127.0.0.1:18080/", `hello from ${name}\n`, tableDiag);
    await eventually(
      "hairpin: the container reaches itself through the host's address",
      async () => (await httpFrom(host, name, host.address, 18080)).includes(`hello from ${name}`),
      15_000,
    );
    // Docker 20.10 keeps a remote driver's port info out of `docker port` (it only reads its own
    // typed structs); weave reports it in EndpointOperInfo all the same. See docs/networks.md.
    assert.equal(ok(await host.docker(["port", name])), "");
    // weave ps shows them instead.
    const ps =
      ok(await host.weave(["ps"]))
        .split("\n")
        .find((l) => l.startsWith(name)) ?? "";
    assert.match(ps, /\s0\.0\.0\.0:18080->80\/tcp$/);
    // weave holds the port: no process on the host can take it.
    const taken = await host.exec(["node", "-e", "require('net').createServer().listen(18080, '0.0.0.0')"], {
      timeoutMs: 5_000,
    });
    assert.match(taken.stderr, /EADDRINUSE/);
  });

  test("-p 127.0.0.1:18081:80 is reached from the host only; -p IP:HOSTPORT:PORT on the underlay address", async () => {
    const local = await web(["-p", "127.0.0.1:18081:80"]);
    await reaches(host, "http://127.0.0.1:18081/", `hello from ${local}\n`, tableDiag);
    assert.equal(await curl(other, `http://${host.address}:18081/`), "", "not from another machine");
    const one = await web(["-p", `${host.address}:18082:80`]);
    await reaches(other, `http://${host.address}:18082/`, `hello from ${one}\n`, tableDiag);
    assert.equal(await curl(host, "http://127.0.0.1:18082/"), "", "not on 127.0.0.1");
  });

  test("-p 80 and -P get a host port from the kernel's ephemeral range", async () => {
    const [lo, hi] = ok(await host.sh("cat /proc/sys/net/ipv4/ip_local_port_range"))
      .split(/\s+/)
      .map(Number);
    const name = await web(["-p", "80"]);
    const ip = await containerIp(host, name, net);
    const line = (await portsTable(host)).split("\n").find((l) => l.includes(`dnat ip to ${ip}:80`)) ?? "";
    const port = Number(/dport (\d+)/.exec(line)?.[1]);
    assert.ok(
      port >= (lo ?? 0) && port <= (hi ?? 0),
      `port ${port} in ${lo}-${hi}:\n${await portsTable(host)}`,
    );
    await reaches(other, `http://${host.address}:${port}/`, `hello from ${name}\n`, tableDiag);
    assert.ok(await listening(host, port), "the picked port is held");
    // -P publishes the image's/--expose ports the same way.
    const all = await web(["--expose", "80", "-P"]);
    const ipAll = await containerIp(host, all, net);
    const lineAll =
      (await portsTable(host)).split("\n").find((l) => l.includes(`dnat ip to ${ipAll}:80`)) ?? "";
    const portAll = Number(/dport (\d+)/.exec(lineAll)?.[1]);
    assert.notEqual(portAll, port);
    await reaches(other, `http://${host.address}:${portAll}/`, `hello from ${all}\n`, tableDiag);
  });

  test("a range -p 18100-18102:18100-18102 publishes each port", async () => {
    const name = await web(["-p", "18100-18102:18100-18102"], [18100, 18101, 18102]);
    for (const port of [18100, 18101, 18102]) {
      await reaches(other, `http://${host.address}:${port}/`, `hello from ${name}\n`, tableDiag);
    }
  });

  test("/udp: a datagram from another machine reaches the container with its source address", async () => {
    const name = uniq("udp");
    ok(
      await host.docker([
        "run",
        "-d",
        "--name",
        name,
        `--net=${net}`,
        "-p",
        "15353:5353/udp",
        TEST_IMAGE,
        "sleep",
        "3600",
      ]),
    );
    containers.push(name);
    const reply = await udpRoundTrip(host, name, 5353, other, host.address, 15353);
    assert.equal(reply, `pong ping from ${other.address}`);
  });

  test("IPv6 on a dual-stack network: [::] and an IPv6 host address", async () => {
    ok(await host.sh(`ip -6 addr add fd79::1/64 dev ${host.links[0]?.ifname ?? ""} nodad`));
    ok(await other.sh(`ip -6 addr add fd79::2/64 dev ${other.links[0]?.ifname ?? ""} nodad`));
    const net6 = uniq("p6net");
    await weaveNetwork(host, "--ipv6", "--subnet", "10.80.0.0/24", "--subnet", "fd80::/64", net6);
    const both = await runWeb(host, uniq("web6"), [`--net=${net6}`, "-p", "18200:80"]);
    containers.push(both);
    await reaches(other, "http://[fd79::1]:18200/", `hello from ${both}\n`, tableDiag);
    await reaches(other, `http://${host.address}:18200/`, `hello from ${both}\n`, tableDiag);
    await reaches(host, "http://[fd79::1]:18200/", `hello from ${both}\n`, tableDiag);
    const one = await runWeb(host, uniq("web6"), [`--net=${net6}`, "-p", "[fd79::1]:18201:80"]);
    containers.push(one);
    await reaches(other, "http://[fd79::1]:18201/", `hello from ${one}\n`, tableDiag);
    assert.equal(await curl(other, `http://${host.address}:18201/`), "", "IPv6 only");
  });

  test("conflicts are refused at docker run: a port another container publishes, a port a process holds", async () => {
    const dup = uniq("dup");
    containers.push(dup);
    const res = await host.docker([
      "run",
      "-d",
      "--name",
      dup,
      `--net=${net}`,
      "-p",
      "18080:80",
      TEST_IMAGE,
      "sleep",
      "60",
    ]);
    assert.match(
      fails(res, "second -p 18080"),
      /Bind for 0\.0\.0\.0:18080\/tcp failed: port is already allocated/,
    );
    assert.notEqual(ok(await host.docker(["inspect", "-f", "{{.State.Running}}", dup])), "true");
    // A process in the host namespace holds 18300.
    const holder = ok(
      await host.sh(
        "nohup node -e \"require('net').createServer().listen(18300)\" >/dev/null 2>&1 & echo $!",
      ),
    );
    try {
      await eventually("the process listens", () => listening(host, 18300));
      const busy = uniq("busy");
      containers.push(busy);
      const r = await host.docker([
        "run",
        "-d",
        "--name",
        busy,
        `--net=${net}`,
        "-p",
        "18300:80",
        TEST_IMAGE,
        "sleep",
        "60",
      ]);
      assert.match(fails(r, "-p 18300"), /0\.0\.0\.0:18300\/tcp: the port is already in use on the host/);
      assert.deepEqual(await dnatFor(host, 18300), [], "nothing half-programmed");
    } finally {
      ok(await host.sh(`kill ${Number(holder)}`));
    }
  });

  test("--internal networks refuse publishing", async () => {
    const inet = uniq("pint");
    await weaveNetwork(host, "--internal", inet);
    const name = uniq("int");
    containers.push(name);
    const res = await host.docker([
      "run",
      "-d",
      "--name",
      name,
      `--net=${inet}`,
      "-p",
      "18400:80",
      TEST_IMAGE,
      "sleep",
      "60",
    ]);
    assert.match(fails(res, "-p on internal"), /is internal: it cannot publish ports \(asked: 80\/tcp\)/);
  });

  test("a container on two networks: published traffic goes to its address on the gateway network", async () => {
    const second = uniq("pnet2");
    await weaveNetwork(host, "--subnet", "10.81.0.0/24", second);
    const name = await web(["-p", "18500:80"]);
    ok(await host.docker(["network", "connect", second, name]));
    const ip1 = await containerIp(host, name, net);
    const ip2 = await containerIp(host, name, second);
    const targets = (await dnatFor(host, 18500)).map((l) => /to ([\d.]+):80/.exec(l)?.[1]);
    // Docker chose the gateway endpoint (and may move it when the container joins a network): weave
    // publishes on the network of the container's default route.
    const routes = ok(await host.docker(["exec", name, "ip", "route"]));
    const gateway = /^default via (\S+)/m.exec(routes)?.[1] ?? "";
    const via = gateway.startsWith("10.79.0.") ? ip1 : ip2;
    assert.ok(
      targets.length > 0 && targets.every((t) => t === via),
      `DNAT to ${via} (gateway: ${gateway}): ${targets.join(",")}`,
    );
    await reaches(other, `http://${host.address}:18500/`, `hello from ${name}\n`, tableDiag);
  });

  test("kill -9 of weave and relaunch, and a dockerd restart, keep the binding working", async () => {
    const name = uniq("keep");
    containers.push(name);
    ok(
      await host.docker([
        "run",
        "-d",
        "--name",
        name,
        `--net=${net}`,
        "--restart",
        "always",
        "-p",
        "18600:80",
        TEST_IMAGE,
        "sh",
        "-c",
        `mkdir -p /www && echo "hello from ${name}" > /www/index.html && httpd -f -p 80 -h /www`,
      ]),
    );
    const url = `http://${host.address}:18600/`;
    await eventually(
      "the container answers",
      async () => (await curl(other, url)) === `hello from ${name}\n`,
    );
    ok(await host.sh("kill -9 $(cat /run/weave/weave.pid)"));
    await reaches(other, url, `hello from ${name}\n`, tableDiag);
    ok(await host.weave(["launch"]), "weave launch after kill -9");
    await eventually("the port is held again", () => listening(host, 18600));
    await reaches(other, url, `hello from ${name}\n`, tableDiag);
    await host.stopDockerd({ signal: "SIGTERM" });
    await host.startDockerd();
    await eventually(
      "the restarted container answers",
      async () => (await curl(other, url)) === `hello from ${name}\n`,
      120_000,
    );
    assert.equal((await dnatFor(host, 18600)).length, 2, "one prerouting and one output rule, no stale copy");
  });

  test("stop and rm remove every rule and reservation", async () => {
    ok(await host.docker(["rm", "-f", ...containers]));
    containers.length = 0;
    await eventually("no DNAT rule left", async () => !(await portsTable(host)).includes("dnat"));
    for (const port of [18080, 18081, 18082, 18100, 18200, 18500, 18600]) {
      assert.equal(await listening(host, port), false, `port ${port} released`);
    }
    const ruleset = ok(await host.sh("nft list ruleset"));
    assert.doesNotMatch(ruleset, /dport 18080|dnat ip to 10\.79/);
  });
});
