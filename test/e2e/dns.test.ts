/**
 * End to end: weaveDNS in a weave daemon launched as a user would, with a real dockerd. Names come
 * from Docker (container name, hostname in the domain, network aliases), resolve from containers
 * through Docker's embedded DNS, disappear when containers stop, survive restarts, and other
 * names go to an upstream server the test runs itself (dnsmasq).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { REPO_ROOT, requireE2E, TEST_IMAGE } from "./harness/index.js";
import { answersOf, digFrom, dnsFlags as dnsFlagsOf, gatewayOf } from "./deploy-lib.js";
import { containerIp, eventually, fails, launchedHost, ok, runSleeper, uniq, weaveNetwork } from "./lib.js";

const skip = requireE2E(["dig", "dnsmasq"]);

/** `dig +short` from the host against weaveDNS; one answer per line. */
async function dig(host: Host, server: string, args: string): Promise<string[]> {
  const out = ok(await host.sh(`dig +short +time=2 +tries=1 @${server} ${args}`), `dig ${args}`);
  return out.split("\n").filter((l) => l !== "");
}

describe("weaveDNS", { skip, timeout: 900_000 }, () => {
  let host: Host;
  let dnsFlags: string[];
  let server: string;

  before(async () => {
    host = await launchedHost("dns");
    const args = ok(await host.weave(["dns-args"]));
    dnsFlags = args.split(" ");
    server = /--dns=(\S+)/.exec(args)?.[1] ?? "";
    assert.match(args, /^--dns=10\.\d+\.\d+\.1 --dns-search=weave\.local$/);
  });

  after(async () => {
    await host?.destroy();
  });

  test("containers resolve each other by name, alias and hostname, and by address", async () => {
    const db = uniq("db");
    await runSleeper(host, db, ["--net=weave", "--network-alias", "database", "-h", `${db}-h.weave.local`]);
    const ip = await containerIp(host, db, "weave");
    const client = await runSleeper(host, uniq("cl"), ["--net=weave", ...dnsFlags]);
    await eventually("name registered", async () =>
      (await dig(host, server, `${db}.weave.local`)).includes(ip),
    );
    for (const name of [db, `${db}.weave.local`, "database", `${db}-h.weave.local`, db.toUpperCase()]) {
      const res = ok(await host.docker(["exec", client, "nslookup", name]), `nslookup ${name}`);
      assert.match(res, new RegExp(`Address: ${ip.replaceAll(".", "\\.")}`), `${name} -> ${ip}`);
    }
    const ptr = ok(await host.docker(["exec", client, "nslookup", ip]));
    assert.match(ptr, new RegExp(`${db}`), "reverse lookup names the container");
    assert.deepEqual(await dig(host, server, `database.weave.local AAAA`), [], "NODATA for AAAA");
    const nx = ok(await host.sh(`dig +time=2 +tries=1 @${server} nosuch.weave.local`));
    assert.match(nx, /status: NXDOMAIN/);
    assert.match(nx, /AUTHORITY SECTION:\s*\nweave\.local\.\s+\d+\s+IN\s+SOA/);
    ok(await host.docker(["rm", "-f", db, client]));
  });

  test("several containers with one alias: all addresses, order shuffled per reply", async () => {
    const alias = uniq("rr");
    const names = [uniq("r"), uniq("r"), uniq("r")];
    for (const n of names) await runSleeper(host, n, ["--net=weave", "--network-alias", alias]);
    const ips = await Promise.all(names.map((n) => containerIp(host, n, "weave")));
    await eventually(
      "3 addresses",
      async () => (await dig(host, server, `${alias}.weave.local`)).length === 3,
    );
    const firsts = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const answer = await dig(host, server, `${alias}.weave.local`);
      assert.deepEqual([...answer].sort(), [...ips].sort());
      firsts.add(answer[0] ?? "");
    }
    assert.ok(
      firsts.size >= 2,
      `the order changes between replies (first answers: ${[...firsts].join(", ")})`,
    );
    ok(await host.docker(["rm", "-f", ...names]));
  });

  test("a stopped container's name is gone within 1 s; one that exits at once leaves none", async () => {
    const c = uniq("st");
    await runSleeper(host, c, ["--net=weave"]);
    await eventually("registered", async () => (await dig(host, server, `${c}.weave.local`)).length === 1);
    ok(await host.docker(["kill", c]));
    const killed = Date.now();
    await eventually(
      "removed",
      async () => (await dig(host, server, `${c}.weave.local`)).length === 0,
      5_000,
    );
    assert.ok(Date.now() - killed <= 1_000, `removed after ${Date.now() - killed} ms`);
    const quick = uniq("q");
    ok(await host.docker(["run", "--name", quick, "--net=weave", TEST_IMAGE, "true"]));
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await dig(host, server, `${quick}.weave.local`), [], "no stale name");
    ok(await host.docker(["rm", "-f", c, quick]));
  });

  test("network connect and disconnect add and remove the names on that network", async () => {
    const net = uniq("dn");
    await weaveNetwork(host, net);
    const c = await runSleeper(host, uniq("nc"), ["--net=weave"]);
    ok(await host.docker(["network", "connect", "--alias", "second", net, c]));
    const ip2 = await containerIp(host, c, net);
    await eventually("alias on the second network", async () =>
      (await dig(host, server, "second.weave.local")).includes(ip2),
    );
    ok(await host.docker(["network", "disconnect", net, c]));
    await eventually(
      "alias removed",
      async () => (await dig(host, server, "second.weave.local")).length === 0,
    );
    ok(await host.docker(["rm", "-f", c]));
    ok(await host.docker(["network", "rm", net]));
  });

  test("dns-add, dns-lookup, status dns and dns-remove; records persist across a restart", async () => {
    assert.match(
      ok(await host.weave(["dns-add", "10.9.9.9", "10.9.9.8", "-h", "ext.weave.local"])),
      /ext\.weave\.local\. 10\.9\.9\.9/,
    );
    assert.deepEqual(
      ok(await host.weave(["dns-lookup", "ext"]))
        .split("\n")
        .sort(),
      ["10.9.9.8", "10.9.9.9"],
    );
    const c = await runSleeper(host, uniq("tied"), ["--net=weave"]);
    ok(await host.weave(["dns-add", "10.9.9.7", c, "-h", "tied.weave.local"]));
    assert.deepEqual(await dig(host, server, "tied.weave.local"), ["10.9.9.7"]);
    const st = ok(await host.weave(["status", "dns"]));
    assert.match(st, /ext\.weave\.local\.\s+10\.9\.9\.8\s+\(all\)\s+manual/);
    ok(await host.weave(["stop"]));
    ok(await host.weave(["launch"]));
    await eventually(
      "records back after restart",
      async () => (await dig(host, server, "ext.weave.local")).length === 2,
    );
    await eventually(
      "tied record back",
      async () => (await dig(host, server, "tied.weave.local")).length === 1,
    );
    ok(await host.weave(["dns-remove", "10.9.9.9", "-h", "ext.weave.local"]));
    assert.deepEqual(await dig(host, server, "ext.weave.local"), ["10.9.9.8"]);
    ok(await host.docker(["rm", "-f", c]));
    await eventually(
      "tied record goes with its container",
      async () => (await dig(host, server, "tied.weave.local")).length === 0,
    );
    ok(await host.weave(["dns-remove", "-h", "ext.weave.local"]));
    assert.equal((await host.weave(["dns-lookup", "ext"])).code, 1);
    assert.match(
      fails(await host.weave(["dns-add", "10.1.1.1", "-h", "outside.example.com"])),
      /not a valid name in the domain/,
    );
  });

  test("names are isolated per network: a container sees only the names of its own networks", async () => {
    const [na, nb] = [uniq("na"), uniq("nb")];
    await weaveNetwork(host, na);
    await weaveNetwork(host, nb);
    const [gwA, gwB] = [await gatewayOf(host, na), await gatewayOf(host, nb)];
    const a = await runSleeper(host, uniq("ia"), [`--net=${na}`, ...dnsFlagsOf(gwA)]);
    const b = await runSleeper(host, uniq("ib"), [`--net=${nb}`, ...dnsFlagsOf(gwB)]);
    const ab = await runSleeper(host, uniq("iab"), [`--net=${na}`]);
    ok(await host.docker(["network", "connect", nb, ab]));
    const [ipA, ipB] = [await containerIp(host, a, na), await containerIp(host, b, nb)];
    const [ipAbA, ipAbB] = [await containerIp(host, ab, na), await containerIp(host, ab, nb)];
    await eventually(
      "every name registered",
      async () => (await dig(host, server, `${ab}.weave.local`)).length === 2,
    );
    // From b (only on nb): a's name does not exist, at nb's gateway, at na's, over UDP and TCP.
    for (const at of [gwB, gwA]) {
      for (const tcp of ["+notcp", "+tcp"]) {
        const out = await digFrom(host, b, at, `${tcp} ${a}.weave.local`);
        assert.match(out, /status: NXDOMAIN/, `${a} is not visible from ${b} at ${at} (${tcp})`);
      }
      const ptr = await digFrom(host, b, at, `-x ${ipA}`);
      assert.doesNotMatch(ptr, new RegExp(a), `the reverse name of ${ipA} is not given to ${b}`);
    }
    assert.deepEqual(answersOf(await digFrom(host, b, gwB, `${b}.weave.local`)), [ipB]);
    assert.deepEqual(
      answersOf(await digFrom(host, b, gwB, `${ab}.weave.local`)),
      [ipAbB],
      "ab's address on nb only",
    );
    // Through Docker's embedded DNS too, as a user would ask.
    const viaDocker = await host.docker(["exec", b, "nslookup", `${a}.weave.local`]);
    assert.doesNotMatch(viaDocker.stdout, new RegExp(`Address:\\s*${ipA.replaceAll(".", "\\.")}`));
    // a sees its network; ab sees the union, wherever it asks.
    assert.deepEqual(answersOf(await digFrom(host, a, gwA, `${ab}.weave.local`)), [ipAbA]);
    assert.match(await digFrom(host, a, gwA, `${b}.weave.local`), /status: NXDOMAIN/);
    for (const at of [gwA, gwB]) {
      assert.deepEqual(answersOf(await digFrom(host, ab, at, `${a}.weave.local`)), [ipA]);
      assert.deepEqual(answersOf(await digFrom(host, ab, at, `${b}.weave.local`)), [ipB]);
    }
    // Records by hand: every network, or one with --net.
    ok(await host.weave(["dns-add", "10.9.7.1", "-h", "shared.weave.local"]));
    assert.match(
      ok(await host.weave(["dns-add", "10.9.7.2", "-h", "only-a.weave.local", "--net", na])),
      /network/,
    );
    assert.match(
      fails(await host.weave(["dns-add", "10.9.7.3", "-h", "x.weave.local", "--net", "nosuch"])),
      /No weave network "nosuch"/,
    );
    assert.deepEqual(answersOf(await digFrom(host, b, gwB, "shared.weave.local")), ["10.9.7.1"]);
    assert.match(await digFrom(host, b, gwB, "only-a.weave.local"), /status: NXDOMAIN/);
    assert.deepEqual(answersOf(await digFrom(host, a, gwA, "only-a.weave.local")), ["10.9.7.2"]);
    const st = ok(await host.weave(["status", "dns"]));
    assert.match(st, new RegExp(`only-a\\.weave\\.local\\.\\s+10\\.9\\.7\\.2\\s+${na}\\s+manual`));
    assert.match(st, /shared\.weave\.local\.\s+10\.9\.7\.1\s+\(all\)\s+manual/);
    // The host itself sees every name.
    assert.deepEqual(await dig(host, gwB, `${a}.weave.local`), [ipA]);
    ok(await host.weave(["dns-remove", "-h", "shared.weave.local"]));
    ok(await host.weave(["dns-remove", "-h", "only-a.weave.local", "--net", na]));
    ok(await host.docker(["rm", "-f", a, b, ab]));
    ok(await host.docker(["network", "rm", na, nb]));
  });

  test("a hostname is registered only when it lies in the domain", async () => {
    const c = await runSleeper(host, uniq("hn"), ["--net=weave", "-h", "seetwo.foo.bar"]);
    const d = await runSleeper(host, uniq("hn"), ["--net=weave", "-h", "seethree.weave.local"]);
    const ipD = await containerIp(host, d, "weave");
    await eventually("in-domain hostname", async () =>
      (await dig(host, server, "seethree.weave.local")).includes(ipD),
    );
    await eventually(
      "container name",
      async () => (await dig(host, server, `${c}.weave.local`)).length === 1,
    );
    const names = JSON.parse(ok(await host.weave(["status", "dns", "--json"]))) as {
      entries: { name: string }[];
    };
    assert.deepEqual(
      names.entries.filter((e) => e.name.includes("seetwo")),
      [],
      "seetwo.foo.bar is outside weave.local: not registered under any name",
    );
    ok(await host.docker(["rm", "-f", c, d]));
  });

  test("a record added under another domain is skipped after a relaunch, every other name still answers", async () => {
    const c1 = await runSleeper(host, uniq("kd"), ["--net=weave"]);
    ok(await host.weave(["dns-add", "10.9.6.6", c1, "-h", "keep.weave.local"]));
    ok(await host.weave(["stop"]));
    ok(await host.weave(["launch", "--dns-domain", "foo.bar."]));
    try {
      const c2 = await runSleeper(host, uniq("kd"), ["--net=weave"]);
      const [ip1, ip2] = [await containerIp(host, c1, "weave"), await containerIp(host, c2, "weave")];
      await eventually(
        "both names under the new domain",
        async () =>
          (await dig(host, server, `${c1}.foo.bar`)).includes(ip1) &&
          (await dig(host, server, `${c2}.foo.bar`)).includes(ip2),
      );
      const st = ok(await host.weave(["status", "dns"]));
      assert.match(
        st,
        /Skipped: keep\.weave\.local\. 10\.9\.6\.6 of container [0-9a-f]{12}: "keep\.weave\.local\." is outside the domain foo\.bar\./,
      );
      const log = ok(await host.sh("grep 'DNS record added by hand skipped' /var/log/weave.log || true"));
      assert.equal(log.split("\n").length, 1, `said once in the log:\n${log}`);
      ok(await host.docker(["rm", "-f", c2]));
    } finally {
      ok(await host.weave(["stop"]));
      ok(await host.weave(["launch"]));
    }
    await eventually("back under weave.local", async () =>
      (await dig(host, server, "keep.weave.local")).includes("10.9.6.6"),
    );
    ok(await host.docker(["rm", "-f", c1]));
  });

  test("names are back after weave restarts, also for a container started while it was down", async () => {
    const a = await runSleeper(host, uniq("ra"), ["--net=weave"]);
    const ipA = await containerIp(host, a, "weave");
    ok(await host.sh("kill -9 $(cat /run/weave/weave.pid)"));
    // Docker retries the plugin for a while: this run completes once weave is back.
    const b = uniq("rb");
    const starting = host.docker(["run", "-d", "--name", b, "--net=weave", TEST_IMAGE, "sleep", "3600"]);
    await new Promise((r) => setTimeout(r, 2000));
    ok(await host.weave(["launch"]));
    ok(await starting, "docker run issued while weave was down");
    const ipB = await containerIp(host, b, "weave");
    await eventually(
      "both names",
      async () =>
        (await dig(host, server, `${a}.weave.local`)).includes(ipA) &&
        (await dig(host, server, `${b}.weave.local`)).includes(ipB),
    );
    ok(await host.docker(["rm", "-f", a, b]));
  });

  test("a dockerd restart is followed: names of dead containers go, new ones come", async () => {
    const a = await runSleeper(host, uniq("da"), ["--net=weave"]);
    await eventually("registered", async () => (await dig(host, server, `${a}.weave.local`)).length === 1);
    await host.stopDockerd({ signal: "SIGKILL" });
    await host.startDockerd();
    await eventually(
      "dead container's name removed",
      async () => (await dig(host, server, `${a}.weave.local`)).length === 0,
    );
    const b = await runSleeper(host, uniq("db"), ["--net=weave"]);
    await eventually(
      "new name after reconnect",
      async () => (await dig(host, server, `${b}.weave.local`)).length === 1,
    );
    ok(await host.docker(["rm", "-f", a, b]));
  });

  test("truncation over UDP with TCP fallback, and EDNS0 sizes", async () => {
    const ips = Array.from({ length: 60 }, (_, i) => `10.8.0.${i + 1}`);
    ok(await host.weave(["dns-add", ...ips, "-h", "big.weave.local"]));
    const udp = ok(await host.sh(`dig +notcp +ignore +noedns @${server} big.weave.local`));
    assert.match(udp, /flags: qr aa( rd)? tc|flags:[^;]*\btc\b/, "TC set over plain UDP");
    assert.equal((await dig(host, server, "+noedns big.weave.local")).length, 60, "dig retries over TCP");
    assert.equal(
      (await dig(host, server, "+bufsize=4096 +notcp big.weave.local")).length,
      60,
      "EDNS0 4096 fits",
    );
    ok(await host.weave(["dns-remove", "-h", "big.weave.local"]));
  });

  test("other names go to the upstream; the server survives 100,000 malformed packets", async () => {
    ok(
      await host.sh(
        "dnsmasq --pid-file=/run/test-dnsmasq.pid --port=5353 --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --address=/outside.test/192.0.2.7 --address=/outside.test/2001:db8::7",
      ),
      "dnsmasq",
    );
    try {
      ok(await host.weave(["stop"]));
      ok(await host.weave(["launch", "--dns-upstream", "127.0.0.1:5353"]));
      const c = await runSleeper(host, uniq("up"), ["--net=weave", ...dnsFlags]);
      const res = ok(await host.docker(["exec", c, "nslookup", "outside.test"]), "nslookup outside.test");
      assert.match(res, /Address: 192\.0\.2\.7/);
      ok(await host.docker(["rm", "-f", c]));
      const fuzz = ok(
        await host.sh(`cd ${REPO_ROOT} && node --import tsx test/e2e/dns-fuzz.ts ${server} 53 100000`, {
          timeoutMs: 300_000,
        }),
      );
      assert.match(fuzz, /sent 100000/);
      // Right after the flood the server may still be draining its socket (or starting its
      // workers): a single 2 s query can time out, so ask until it answers.
      await eventually("still forwarding", async () => {
        const res = await host.sh(`dig +short +time=2 +tries=1 @${server} outside.test`);
        return res.code === 0 && res.stdout.trim() === "192.0.2.7";
      });
      const probe = await runSleeper(host, uniq("pr"), ["--net=weave"]);
      const ip = await containerIp(host, probe, "weave");
      await eventually("still answering", async () =>
        (await dig(host, server, `${probe}.weave.local`)).includes(ip),
      );
      ok(await host.docker(["rm", "-f", probe]));
    } finally {
      await host.sh("kill $(cat /run/test-dnsmasq.pid)");
    }
  });
});

describe("weaveDNS flags", { skip, timeout: 600_000 }, () => {
  let host: Host;

  before(async () => {
    host = await launchedHost("dnsf");
    ok(await host.weave(["stop"]));
  });

  after(async () => {
    await host?.destroy();
  });

  test("--dns-domain, --dns-ttl, --dns-port, --dns-workers and a followed --dns-resolv-conf", async () => {
    // Two upstreams on this host's loopback, port 53 as resolv.conf implies, answering differently.
    for (const [ip, answer] of [
      ["127.0.0.2", "192.0.2.2"],
      ["127.0.0.3", "192.0.2.3"],
    ] as const) {
      ok(
        await host.sh(
          `dnsmasq --pid-file=/run/dnsmasq-${ip}.pid --port=53 --listen-address=${ip} --bind-interfaces --no-resolv --no-hosts --address=/probe.test/${answer} --address=/probe.test/::`,
        ),
        `dnsmasq on ${ip}`,
      );
    }
    ok(await host.sh("echo 'nameserver 127.0.0.2' > /run/test-resolv.conf"));
    ok(
      await host.weave([
        "launch",
        "--dns-domain",
        "example.internal",
        "--dns-ttl",
        "30",
        "--dns-port",
        "5353",
        "--dns-workers",
        "0",
        "--dns-resolv-conf",
        "/run/test-resolv.conf",
      ]),
    );
    const gw = /--dns=(\S+)/.exec(ok(await host.weave(["dns-args"])))?.[1] ?? "";
    assert.match(ok(await host.weave(["dns-args"])), /--dns-search=example\.internal$/);
    const c = await runSleeper(host, uniq("f"), ["--net=weave"]);
    const ip = await containerIp(host, c, "weave");
    await eventually("name in the custom domain", async () =>
      ok(await host.sh(`dig +short -p 5353 @${gw} ${c}.example.internal`)).includes(ip),
    );
    const full = ok(await host.sh(`dig -p 5353 @${gw} ${c}.example.internal`));
    assert.match(
      full,
      new RegExp(`${c}\\.example\\.internal\\.\\s+30\\s+IN\\s+A\\s+${ip.replaceAll(".", "\\.")}`),
    );
    assert.notEqual(
      (await host.sh(`dig +time=1 +tries=1 @${gw} ${c}.example.internal`)).code,
      0,
      "nothing on port 53",
    );
    assert.equal(ok(await host.sh(`dig +short -p 5353 @${gw} probe.test`)), "192.0.2.2");
    ok(await host.sh("echo 'nameserver 127.0.0.3' > /run/test-resolv.conf"));
    await eventually(
      "resolv.conf change followed",
      async () => ok(await host.sh(`dig +short -p 5353 @${gw} probe.test`)) === "192.0.2.3",
    );
    ok(await host.docker(["rm", "-f", c]));
    ok(await host.weave(["stop"]));
    await host.sh("kill $(cat /run/dnsmasq-127.0.0.2.pid) $(cat /run/dnsmasq-127.0.0.3.pid)");
  });

  test("--no-dns runs weave without weaveDNS", async () => {
    ok(await host.weave(["launch", "--no-dns"]));
    const args = await host.weave(["dns-args"]);
    assert.notEqual(args.code, 0);
    assert.match(args.stderr, /weaveDNS is off/);
    assert.match(ok(await host.weave(["status"])), /weaveDNS: off/);
    ok(await host.weave(["stop"]));
  });
});
