import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { scriptedExec } from "../../helpers/scripted-exec.js";
import { isWeaveError, silentLogger } from "../../../src/core/index.js";
import {
  describeRoutedOp,
  IprouteRouted,
  parseProxyJson,
  parseRoutedRoutesJson,
  parseSysctlOutput,
  planRouted,
  renderRoutedOp,
  routedOpTool,
  routedSysctls,
  validateRouted,
} from "../../../src/dataplane/index.js";
import type { ObservedRouted, RoutedNetwork, RoutedOp } from "../../../src/dataplane/index.js";

const net: RoutedNetwork = {
  bridge: "weave-a",
  remotes: [
    { ip: "10.40.0.3", via: "192.168.1.2" },
    { ip: "FD40:0::3", via: "fd99::2" },
  ],
};
const sysctlsDone = {
  "net.ipv4.neigh.weave-a.proxy_delay": "0",
  "net.ipv6.conf.weave-a.proxy_ndp": "1",
  "net.ipv6.neigh.weave-a.proxy_delay": "0",
  "net.ipv4.ip_forward": "1",
  "net.ipv6.conf.all.forwarding": "1",
};
const done: ObservedRouted = {
  routes: [
    { family: 4, dst: "10.40.0.3/32", gateway: "192.168.1.2", dev: "eth0", metric: 0, unicast: true },
    { family: 6, dst: "fd40::3/128", gateway: "fd99::2", dev: "eth0", metric: 1024, unicast: true },
  ],
  proxies: [
    { dev: "weave-a", ip: "10.40.0.3" },
    { dev: "weave-a", ip: "fd40::3" },
  ],
  sysctls: sysctlsDone,
};
const empty: ObservedRouted = { routes: [], proxies: [], sysctls: {} };

/** The commands a plan would run, as FakeRouted records them. */
function lines(ops: RoutedOp[]): string[] {
  return ops.flatMap((op) =>
    renderRoutedOp(op).map((l) => (routedOpTool(op) === "sysctl" ? `sysctl -qw ${l}` : `ip ${l}`)),
  );
}

function rejectsBad(desired: RoutedNetwork[], pattern: RegExp): void {
  assert.throws(
    () => validateRouted(desired),
    (err: unknown) => isWeaveError(err, "WEAVE_BAD_REQUEST") && pattern.test(err.message),
  );
}

void describe("planRouted", () => {
  void it("adds routes, sysctls and proxy entries on an empty host", () => {
    assert.deepEqual(lines(planRouted([net], empty)), [
      "sysctl -qw net.ipv4.neigh.weave-a.proxy_delay=0",
      "sysctl -qw net.ipv6.conf.weave-a.proxy_ndp=1",
      "sysctl -qw net.ipv6.neigh.weave-a.proxy_delay=0",
      "sysctl -qw net.ipv4.ip_forward=1",
      "sysctl -qw net.ipv6.conf.all.forwarding=1",
      "ip route replace 10.40.0.3/32 via 192.168.1.2 proto 87",
      "ip route replace fd40::3/128 via fd99::2 proto 87",
      "ip neigh replace proxy 10.40.0.3 dev weave-a",
      "ip neigh replace proxy fd40::3 dev weave-a",
    ]);
  });

  void it("does nothing when everything matches (addresses compared canonically)", () => {
    assert.deepEqual(planRouted([net], done), []);
  });

  void it("writes only the sysctls that differ, and only those of the families in use", () => {
    const v4only: RoutedNetwork = { bridge: "weave", remotes: [{ ip: "10.40.0.3", dev: "wvg01020304" }] };
    const observed = { ...empty, sysctls: { "net.ipv4.ip_forward": "1\n" } };
    assert.deepEqual(lines(planRouted([v4only], observed)), [
      "sysctl -qw net.ipv4.neigh.weave.proxy_delay=0",
      "ip route replace 10.40.0.3/32 dev wvg01020304 proto 87",
      "ip neigh replace proxy 10.40.0.3 dev weave",
    ]);
    assert.deepEqual(routedSysctls([{ bridge: "weave-b", remotes: [] }]), []);
  });

  void it("names a bridge with a dot as procps sysctl does (dot written as slash)", () => {
    assert.deepEqual(
      routedSysctls([{ bridge: "weave-x.1", remotes: [{ ip: "10.0.0.1", via: "10.1.0.1" }] }]),
      [
        ["net.ipv4.neigh.weave-x/1.proxy_delay", "0"],
        ["net.ipv4.ip_forward", "1"],
      ],
    );
  });

  void it("replaces a route whose next hop changed, and an IPv4 route via IPv6 names the family", () => {
    const moved: RoutedNetwork = {
      bridge: "weave-a",
      remotes: [
        { ip: "10.40.0.3", via: "fd99::7" },
        { ip: "fd40::3", dev: "wvg01020304" },
      ],
    };
    assert.deepEqual(lines(planRouted([moved], done)), [
      "ip route replace 10.40.0.3/32 via inet6 fd99::7 proto 87",
      "ip route replace fd40::3/128 dev wvg01020304 proto 87",
    ]);
    const viaV6 = { ...done.routes[0]!, gateway: "fd99::7" };
    const onDev = { ...done.routes[1]!, dev: "wvg01020304" };
    const { gateway: _gateway, ...noGateway } = onDev;
    assert.deepEqual(planRouted([moved], { ...done, routes: [viaV6, noGateway] }), []);
    assert.equal(
      planRouted([moved], { ...done, routes: [viaV6, onDev] }).length,
      1,
      "dev route has a gateway",
    );
  });

  void it("deletes weave routes and proxy entries not desired, and a desired route at another metric", () => {
    const observed: ObservedRouted = {
      ...done,
      routes: [
        ...done.routes,
        { family: 4, dst: "10.40.0.9/32", gateway: "192.168.1.2", metric: 0, unicast: true },
        { family: 4, dst: "10.40.0.3/32", gateway: "192.168.1.2", metric: 5, unicast: true },
        { family: 6, dst: "::/0", gateway: "fd99::2", metric: 77, unicast: true },
      ],
      proxies: [
        ...done.proxies,
        { dev: "weave-b", ip: "10.40.0.3" },
        { dev: "br0", ip: "10.40.0.7" },
        { dev: "weaver", ip: "10.40.0.8" },
      ],
    };
    assert.deepEqual(lines(planRouted([net], observed)), [
      "ip route del 10.40.0.9/32 proto 87 metric 0",
      "ip route del 10.40.0.3/32 proto 87 metric 5",
      "ip route del ::/0 proto 87 metric 77",
      "ip neigh del proxy 10.40.0.3 dev weave-b",
    ]);
  });

  void it("replaces a blackhole or multipath route at the default metric", () => {
    const odd = { ...done.routes[0]!, unicast: false };
    assert.deepEqual(lines(planRouted([net], { ...done, routes: [odd, done.routes[1]!] })), [
      "ip route replace 10.40.0.3/32 via 192.168.1.2 proto 87",
    ]);
  });

  void it("removes everything of weave's for an empty desired list, and no sysctl", () => {
    assert.deepEqual(lines(planRouted([], done)), [
      "ip route del 10.40.0.3/32 proto 87 metric 0",
      "ip route del fd40::3/128 proto 87 metric 1024",
      "ip neigh del proxy 10.40.0.3 dev weave-a",
      "ip neigh del proxy fd40::3 dev weave-a",
    ]);
  });
});

void describe("describeRoutedOp", () => {
  void it("describes every kind of operation", () => {
    const ops: RoutedOp[] = [
      { op: "del-route", dst: "10.40.0.9/32", metric: 0 },
      { op: "set-route", ip: "10.40.0.3", via: "192.168.1.2" },
      { op: "set-route", ip: "fd40::3", dev: "wvg01020304" },
      { op: "del-proxy", dev: "weave-a", ip: "10.40.0.9" },
      { op: "add-proxy", dev: "weave-a", ip: "fd40::3" },
      { op: "set-sysctl", key: "net.ipv4.ip_forward", value: "1" },
    ];
    assert.deepEqual(ops.map(describeRoutedOp), [
      "delete route 10.40.0.9/32",
      "set route 10.40.0.3/32 via 192.168.1.2",
      "set route fd40::3/128 dev wvg01020304",
      "delete proxy 10.40.0.9 on weave-a",
      "add proxy fd40::3 on weave-a",
      "set sysctl net.ipv4.ip_forward=1",
    ]);
  });
});

void describe("validateRouted", () => {
  const r = net.remotes[0]!;
  void it("accepts valid networks", () => {
    const edge: RoutedNetwork = { bridge: "weave-234567890", remotes: [{ ip: "10.0.0.1", via: "fd99::1" }] };
    assert.equal(validateRouted([net, edge, { bridge: "weave", remotes: [] }]), undefined);
  });
  void it("rejects bad bridges, addresses, next hops and devices with WEAVE_BAD_REQUEST", () => {
    rejectsBad([{ ...net, bridge: "br0" }], /Invalid bridge name "br0": weave's bridges/);
    rejectsBad([{ ...net, bridge: "weave-a; reboot" }], /Invalid bridge name/);
    rejectsBad([{ ...net, bridge: "weave-2345678901" }], /Invalid bridge name/);
    rejectsBad([{ ...net, remotes: [{ ...r, ip: "10.40.0.300" }] }], /Invalid remote address "10.40.0.300"/);
    rejectsBad([{ ...net, remotes: [{ ...r, ip: "10.40.0.0/24" }] }], /Invalid remote address/);
    rejectsBad([{ ...net, remotes: [{ ...r, ip: "fe80::1%eth0" }] }], /Invalid remote address/);
    rejectsBad([{ ...net, remotes: [{ ip: "10.40.0.3" }] }], /exactly one of via and dev/);
    rejectsBad([{ ...net, remotes: [{ ...r, dev: "wg0" }] }], /exactly one of via and dev/);
    rejectsBad([{ ...net, remotes: [{ ip: "10.40.0.3", via: "peer" }] }], /Invalid next hop "peer"/);
    rejectsBad([{ ...net, remotes: [{ ip: "10.40.0.3", dev: "wg 0" }] }], /Invalid device name "wg 0"/);
    rejectsBad([{ ...net, remotes: [{ ip: "10.40.0.3", dev: "weave-a" }] }], /its own bridge weave-a/);
    rejectsBad(
      [{ ...net, remotes: [{ ip: "fd40::3", via: "192.168.1.2" }] }],
      /no IPv6 routes through IPv4 next hops/,
    );
  });
  void it("rejects a bridge or an address desired twice, across networks too", () => {
    rejectsBad([net, net], /Bridge weave-a is desired twice/);
    const again: RoutedNetwork = { bridge: "weave-b", remotes: [{ ip: "fd40::0:3", dev: "wg0" }] };
    rejectsBad([net, again], /Remote "fd40::3" appears twice \(on weave-a and weave-b\)/);
  });
});

void describe("parsers", () => {
  void it("read real iproute2 6.1 JSON", () => {
    const v4 = `[{"dst":"10.40.0.3","gateway":"192.168.77.2","dev":"ula","flags":[]},
      {"dst":"10.40.0.5","via":{"family":"inet6","host":"fd99::2"},"dev":"ula","flags":[]},
      {"dst":"10.40.0.6","dev":"tn0","scope":"link","flags":["linkdown"]},
      {"dst":"10.40.0.7","flags":[],"nexthops":[{"gateway":"192.168.77.2","dev":"ula","weight":1,"flags":[]}]},
      {"type":"blackhole","dst":"10.40.0.8","flags":[]},
      {"dst":"10.41.0.0/16","dev":"ula","scope":"link","metric":5,"flags":[]}]`;
    assert.deepEqual(parseRoutedRoutesJson(v4, 4), [
      { family: 4, dst: "10.40.0.3/32", gateway: "192.168.77.2", dev: "ula", metric: 0, unicast: true },
      { family: 4, dst: "10.40.0.5/32", gateway: "fd99::2", dev: "ula", metric: 0, unicast: true },
      { family: 4, dst: "10.40.0.6/32", dev: "tn0", metric: 0, unicast: true },
      { family: 4, dst: "10.40.0.7/32", metric: 0, unicast: false },
      { family: 4, dst: "10.40.0.8/32", metric: 0, unicast: false },
      { family: 4, dst: "10.41.0.0/16", dev: "ula", metric: 5, unicast: true },
    ]);
    const v6 = `[{"dst":"fd40::3","gateway":"fd99::2","dev":"ula","metric":1024,"flags":[],"pref":"medium"},
      {"dst":"default","gateway":"FD99::2","dev":"ula","metric":77,"flags":[],"pref":"medium"}]`;
    assert.deepEqual(parseRoutedRoutesJson(v6, 6), [
      { family: 6, dst: "fd40::3/128", gateway: "fd99::2", dev: "ula", metric: 1024, unicast: true },
      { family: 6, dst: "::/0", gateway: "fd99::2", dev: "ula", metric: 77, unicast: true },
    ]);
    const proxy = `[{"dst":"10.40.0.3","dev":"weave-rt","proxy":null},{"dst":"fd40:0::3","dev":"weave","proxy":null},
      {"dst":"10.40.0.4","dev":"eth0","proxy":null},{"dst":"10.40.0.5","dev":"weave-rt","lladdr":"02:00:00:00:00:01","state":["REACHABLE"]}]`;
    assert.deepEqual(parseProxyJson(proxy), [
      { dev: "weave-rt", ip: "10.40.0.3" },
      { dev: "weave", ip: "fd40::3" },
    ]);
    assert.deepEqual(parseRoutedRoutesJson("", 4), []);
    assert.throws(
      () => parseProxyJson("{"),
      (err: unknown) => isWeaveError(err, "WEAVE_DATAPLANE"),
    );
  });

  void it("read procps sysctl output", () => {
    const text = "net.ipv4.neigh.weave/x.proxy_delay = 80\nnet.ipv6.conf.all.forwarding = 1\n";
    assert.deepEqual(parseSysctlOutput(text), {
      "net.ipv4.neigh.weave/x.proxy_delay": "80",
      "net.ipv6.conf.all.forwarding": "1",
    });
  });
});

void describe("IprouteRouted (scripted exec)", () => {
  const v4only: RoutedNetwork = { bridge: "weave-a", remotes: [net.remotes[0]!] };
  const keys = "net.ipv4.neigh.weave-a.proxy_delay net.ipv4.ip_forward";

  void it("observes both families, proxies and the needed sysctls, and writes only what differs", async () => {
    const { exec, calls } = scriptedExec(
      {
        "ip -json route show proto 87":
          '[{"dst":"10.40.0.9","gateway":"192.168.1.2","dev":"eth0","flags":[]}]',
        "ip -json neigh show proxy": '[{"dst":"10.40.0.3","dev":"weave-a","proxy":null}]',
        // The bridge's key is unreadable (the bridge is new): it is written.
        [`sysctl ${keys}`]: "net.ipv4.ip_forward = 1\n",
      },
      () => undefined,
    );
    const report = await new IprouteRouted({ exec, logger: silentLogger }).reconcile([v4only]);
    assert.deepEqual(calls, [
      "ip -json route show proto 87",
      "ip -json -6 route show proto 87",
      "ip -json neigh show proxy",
      `sysctl ${keys}`,
      "ip -batch - <<< route del 10.40.0.9/32 proto 87 metric 0",
      "sysctl -qw net.ipv4.neigh.weave-a.proxy_delay=0",
      "ip -batch - <<< route replace 10.40.0.3/32 via 192.168.1.2 proto 87",
    ]);
    assert.deepEqual(report.applied, [
      "delete route 10.40.0.9/32",
      "set sysctl net.ipv4.neigh.weave-a.proxy_delay=0",
      "set route 10.40.0.3/32 via 192.168.1.2",
    ]);
  });

  void it("reads no sysctl without remotes, and retries a failed batch once after observing again", async () => {
    let fails = 1;
    const { exec, calls } = scriptedExec(
      { "ip -json neigh show proxy": '[{"dst":"10.40.0.3","dev":"weave-a","proxy":null}]' },
      (cmd) =>
        cmd.startsWith("ip -batch") && fails-- > 0
          ? "RTNETLINK answers: No such file or directory"
          : undefined,
    );
    const report = await new IprouteRouted({ exec, logger: silentLogger }).reconcile([]);
    assert.deepEqual(report.applied, ["delete proxy 10.40.0.3 on weave-a"]);
    assert.equal(calls.filter((c) => c.startsWith("sysctl")).length, 0);
    assert.equal(
      calls.filter((c) => c === "ip -batch - <<< neigh del proxy 10.40.0.3 dev weave-a").length,
      2,
    );
  });

  void it("refuses an invalid network before running anything", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    await assert.rejects(
      new IprouteRouted({ exec, logger: silentLogger }).reconcile([{ ...net, bridge: "docker0" }]),
      (err: unknown) => isWeaveError(err, "WEAVE_BAD_REQUEST") && /docker0/.test(err.message),
    );
    assert.deepEqual(calls, []);
  });

  void it("fails with WEAVE_DATAPLANE quoting stderr when a sysctl cannot be written", async () => {
    const { exec } = scriptedExec({}, (cmd) =>
      cmd.startsWith("sysctl -qw") ? "sysctl: permission denied on key" : undefined,
    );
    await assert.rejects(
      new IprouteRouted({ exec, logger: silentLogger }).reconcile([v4only]),
      (err: unknown) => isWeaveError(err, "WEAVE_DATAPLANE") && /permission denied/.test(err.message),
    );
  });
});
