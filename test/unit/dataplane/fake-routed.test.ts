import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isWeaveError } from "../../../src/core/index.js";
import {
  FakeRouted,
  planRouted,
  renderRoutedOp,
  ROUTED_READS,
  routedOpTool,
} from "../../../src/dataplane/index.js";
import type { RoutedNetwork } from "../../../src/dataplane/index.js";

const net: RoutedNetwork = {
  bridge: "weave-a",
  remotes: [
    { ip: "10.40.0.3", via: "192.168.1.2" },
    { ip: "fd40::3", dev: "wvg01020304" },
  ],
};

void describe("FakeRouted", () => {
  void it("records the commands the real adapter would run and is idempotent", async () => {
    const fake = new FakeRouted();
    const report = await fake.reconcile([net]);
    const expected = planRouted([net], { routes: [], proxies: [], sysctls: {} }).flatMap((op) =>
      renderRoutedOp(op).map((l) => (routedOpTool(op) === "sysctl" ? `sysctl -qw ${l}` : `ip ${l}`)),
    );
    const keys =
      "net.ipv4.neigh.weave-a.proxy_delay net.ipv6.conf.weave-a.proxy_ndp net.ipv6.neigh.weave-a.proxy_delay net.ipv4.ip_forward net.ipv6.conf.all.forwarding";
    assert.deepEqual(fake.commands, [...ROUTED_READS, `sysctl ${keys}`, ...expected]);
    assert.ok(fake.commands.includes("ip route replace fd40::3/128 dev wvg01020304 proto 87"));
    assert.equal(report.applied.length, expected.length);
    assert.deepEqual((await fake.reconcile([net])).applied, []);
    assert.equal(fake.sysctls.get("net.ipv6.conf.weave-a.proxy_ndp"), "1");
  });

  void it("removing a remote removes its route and proxy entry only; sysctls stay", async () => {
    const fake = new FakeRouted();
    await fake.reconcile([net]);
    const report = await fake.reconcile([{ ...net, remotes: [net.remotes[0]!] }]);
    assert.deepEqual(report.applied, ["delete route fd40::3/128", "delete proxy fd40::3 on weave-a"]);
    assert.deepEqual(
      fake.routes.map((r) => r.dst),
      ["10.40.0.3/32"],
    );
    assert.deepEqual(fake.proxies, [{ dev: "weave-a", ip: "10.40.0.3" }]);
    assert.equal(fake.sysctls.get("net.ipv6.conf.all.forwarding"), "1");
  });

  void it("fails with WEAVE_DATAPLANE when the bridge or the route's device does not exist", async () => {
    const fake = new FakeRouted();
    fake.devices = new Set(["weave-a"]);
    await assert.rejects(fake.reconcile([net]), (err: unknown) => isWeaveError(err, "WEAVE_DATAPLANE"));
    const noBridge = new FakeRouted();
    noBridge.devices = new Set(["wvg01020304"]);
    await assert.rejects(noBridge.reconcile([net]), /Cannot find device "weave-a"/);
  });

  void it("injects failures by command", async () => {
    const fake = new FakeRouted();
    fake.failNext("neigh replace proxy");
    await assert.rejects(fake.reconcile([net]), /injected/);
    assert.ok((await fake.reconcile([net])).applied.length > 0);
    assert.deepEqual((await fake.reconcile([net])).applied, []);
  });
});

const ipArb = fc.oneof(
  fc.integer({ min: 1, max: 6 }).map((n) => `10.40.0.${n}`),
  fc.integer({ min: 1, max: 6 }).map((n) => `FD40::${n}`),
);
const remoteArb = fc.record({
  ip: ipArb,
  hop: fc.constantFrom("192.168.1.2", "192.168.1.3", "fd99::2", "wvg0", "wvg1"),
});
const desiredArb = fc
  .record({
    bridges: fc.uniqueArray(fc.constantFrom("weave", "weave-a", "weave-b"), { maxLength: 3 }),
    remotes: fc.uniqueArray(remoteArb, { maxLength: 8, selector: (r) => r.ip.toLowerCase() }),
  })
  .map(({ bridges, remotes }): RoutedNetwork[] =>
    bridges.map((bridge, i) => ({
      bridge,
      remotes: remotes
        .filter((_, j) => j % bridges.length === i)
        // IPv6 remotes cannot go via an IPv4 next hop: those go by device.
        .filter((r) => !(r.ip.includes(":") && r.hop.startsWith("192.")))
        .map((r) => (r.hop.startsWith("wvg") ? { ip: r.ip, dev: r.hop } : { ip: r.ip, via: r.hop })),
    })),
  );

/** What the fake kernel should hold for `desired`, computed independently of the planner. */
function wanted(desired: RoutedNetwork[]): { routes: string[]; proxies: string[] } {
  const remotes = desired.flatMap((n) => n.remotes.map((r) => ({ ...r, bridge: n.bridge })));
  const ip = (text: string): string => text.toLowerCase();
  return {
    routes: remotes.map((r) => `${ip(r.ip)}/${r.ip.includes(":") ? 128 : 32} ${r.via ?? r.dev}`).sort(),
    proxies: remotes.map((r) => `${r.bridge} ${ip(r.ip)}`).sort(),
  };
}

function kernel(fake: FakeRouted): { routes: string[]; proxies: string[] } {
  return {
    routes: fake.routes.map((r) => `${r.dst} ${r.gateway ?? r.dev}`).sort(),
    proxies: fake.proxies.map((p) => `${p.dev} ${p.ip}`).sort(),
  };
}

void describe("FakeRouted (property)", () => {
  void it("from any state, reconcile reaches exactly the desired state, then applies nothing", async () => {
    await fc.assert(
      fc.asyncProperty(desiredArb, desiredArb, async (first, second) => {
        const fake = new FakeRouted();
        // A foreign proxy entry is never touched.
        fake.proxies.push({ dev: "br0", ip: "10.40.0.1" });
        await fake.reconcile(first);
        await fake.reconcile(second);
        const got = kernel(fake);
        const want = wanted(second);
        assert.deepEqual(got.routes, want.routes);
        assert.deepEqual(got.proxies, [...want.proxies, "br0 10.40.0.1"].sort());
        assert.deepEqual((await fake.reconcile(second)).applied, []);
      }),
      { numRuns: 200 },
    );
  });
});
