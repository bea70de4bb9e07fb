import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { scriptedExec } from "../../helpers/scripted-exec.js";
import fc from "fast-check";
import { isWeaveError, LINK_MIN_MTU, MAX_MTU, silentLogger } from "../../../src/core/index.js";
import {
  describeOverlayOp,
  FakeOverlay,
  IprouteOverlay,
  isWeaveVxlanName,
  OVERLAY_READS,
  overlayOpTool,
  parseFdbJson,
  parseNeighJson,
  parseVxlanLinksJson,
  planOverlay,
  renderOverlayOp,
  validateOverlay,
  vxlanName,
} from "../../../src/dataplane/index.js";
import type {
  ObservedOverlay,
  ObservedVxlan,
  OverlayNetwork,
  OverlayOp,
  VxlanSpec,
} from "../../../src/dataplane/index.js";

const spec: VxlanSpec = {
  name: "vxw4096",
  vni: 4096,
  port: 4789,
  local: "192.168.1.1",
  mtu: 1350,
  bridge: "weave-a",
};
const net: OverlayNetwork = {
  spec,
  floodPeers: ["192.168.1.2"],
  endpoints: [{ mac: "02:42:0A:20:00:03", ipv4: "10.32.0.3", ipv6: "FD00:0::3", peer: "192.168.1.2" }],
};
const { bridge: _bridge, ...attrs } = spec;
const goodLink: ObservedVxlan = { ...attrs, learning: false, proxy: true, master: "weave-a", up: true };
const entries: ObservedOverlay = {
  links: [goodLink],
  fdb: [
    { dev: "vxw4096", mac: "00:00:00:00:00:00", dst: "192.168.1.2", permanent: true },
    { dev: "vxw4096", mac: "02:42:0a:20:00:03", dst: "192.168.1.2", permanent: true },
  ],
  neigh: [
    { dev: "vxw4096", ip: "10.32.0.3", mac: "02:42:0a:20:00:03", permanent: true },
    { dev: "vxw4096", ip: "fd00::3", mac: "02:42:0a:20:00:03", permanent: true },
  ],
};
const empty: ObservedOverlay = { links: [], fdb: [], neigh: [] };

/** The commands a plan would run, each prefixed with its tool, as FakeOverlay records them. */
function lines(ops: OverlayOp[]): string[] {
  return ops.flatMap((op) => renderOverlayOp(op).map((l) => `${overlayOpTool(op)} ${l}`));
}

function rejectsBad(desired: OverlayNetwork[], pattern: RegExp): void {
  assert.throws(
    () => validateOverlay(desired),
    (err: unknown) => isWeaveError(err, "WEAVE_BAD_REQUEST") && pattern.test(err.message),
  );
}

void describe("vxlan names", () => {
  void it("names devices vxw + decimal VNI and owns only those", () => {
    assert.equal(vxlanName(16777215), "vxw16777215");
    assert.equal(isWeaveVxlanName("vxw4096"), true);
    assert.equal(isWeaveVxlanName("vxw"), false);
    assert.equal(isWeaveVxlanName("vxwfoo"), false);
    assert.equal(isWeaveVxlanName("vxlan0"), false);
  });
});

void describe("planOverlay", () => {
  void it("creates a missing device with its FDB and neighbour entries", () => {
    assert.deepEqual(lines(planOverlay([net], empty)), [
      "ip link add vxw4096 mtu 1350 type vxlan id 4096 local 192.168.1.1 dstport 4789 nolearning proxy",
      "ip link set vxw4096 master weave-a up",
      "bridge fdb append 00:00:00:00:00:00 dev vxw4096 dst 192.168.1.2 self permanent",
      "bridge fdb replace 02:42:0a:20:00:03 dev vxw4096 dst 192.168.1.2 self permanent",
      "ip neigh replace 10.32.0.3 lladdr 02:42:0a:20:00:03 dev vxw4096 nud permanent",
      "ip neigh replace fd00::3 lladdr 02:42:0a:20:00:03 dev vxw4096 nud permanent",
    ]);
  });

  void it("does nothing when everything matches (MACs and IPv6 compared canonically)", () => {
    assert.deepEqual(planOverlay([net], entries), []);
  });

  void it("fixes MTU, master, learning and the up flag in place, keeping the entries", () => {
    const link = { ...goodLink, mtu: 1450, master: "docker0", learning: true, up: false };
    assert.deepEqual(lines(planOverlay([net], { ...entries, links: [link] })), [
      "ip link set vxw4096 type vxlan nolearning",
      "ip link set vxw4096 mtu 1350 master weave-a up",
    ]);
    const { master: _master, ...detached } = goodLink;
    assert.deepEqual(lines(planOverlay([net], { ...entries, links: [detached] })), [
      "ip link set vxw4096 master weave-a",
    ]);
  });

  for (const [what, change] of [
    ["VNI", { vni: 4097 }],
    ["port", { port: 8472 }],
    ["local address", { local: "192.168.1.9" }],
    ["proxy flag", { proxy: false }],
  ] as const) {
    void it(`recreates the device when its ${what} differs, and adds all entries again`, () => {
      const ops = planOverlay([net], { ...entries, links: [{ ...goodLink, ...change }] });
      assert.deepEqual(
        ops.map((o) => o.op),
        ["delete-vxlan", "create-vxlan", "add-fdb", "add-fdb", "set-neigh", "set-neigh"],
      );
      assert.equal(lines(ops)[0], "ip link del vxw4096");
    });
  }

  void it("adds, replaces and removes entries so that the device holds exactly the desired ones", () => {
    const moved: OverlayNetwork = {
      ...net,
      floodPeers: ["192.168.1.4"],
      endpoints: [
        { mac: "02:42:0a:20:00:03", ipv4: "10.32.0.3", peer: "192.168.1.4" },
        { mac: "02:42:0a:20:00:05", ipv4: "10.32.0.5", peer: "192.168.1.4" },
      ],
    };
    const observed: ObservedOverlay = {
      ...entries,
      neigh: [
        ...entries.neigh,
        { dev: "vxw4096", ip: "10.32.0.5", mac: "02:42:0a:20:00:99", permanent: true },
      ],
    };
    assert.deepEqual(lines(planOverlay([moved], observed)), [
      "bridge fdb del 00:00:00:00:00:00 dev vxw4096 dst 192.168.1.2 self",
      "bridge fdb del 02:42:0a:20:00:03 dev vxw4096 dst 192.168.1.2 self",
      "bridge fdb append 00:00:00:00:00:00 dev vxw4096 dst 192.168.1.4 self permanent",
      "bridge fdb replace 02:42:0a:20:00:03 dev vxw4096 dst 192.168.1.4 self permanent",
      "bridge fdb replace 02:42:0a:20:00:05 dev vxw4096 dst 192.168.1.4 self permanent",
      "ip neigh del fd00::3 dev vxw4096",
      "ip neigh replace 10.32.0.5 lladdr 02:42:0a:20:00:05 dev vxw4096 nud permanent",
    ]);
  });

  void it("makes a non-permanent entry permanent", () => {
    const observed: ObservedOverlay = {
      ...entries,
      neigh: [{ ...entries.neigh[0]!, permanent: false }, entries.neigh[1]!],
    };
    assert.deepEqual(lines(planOverlay([net], observed)), [
      "ip neigh replace 10.32.0.3 lladdr 02:42:0a:20:00:03 dev vxw4096 nud permanent",
    ]);
  });

  void it("deletes orphan vxw devices and never touches foreign links or their entries", () => {
    const foreign = { ...goodLink, name: "vxlan0" };
    const observed: ObservedOverlay = {
      links: [goodLink, { ...goodLink, name: "vxw7", vni: 7 }, foreign, { ...foreign, name: "vxwfoo" }],
      fdb: [{ dev: "vxlan0", mac: "02:00:00:00:00:01", dst: "192.168.1.8", permanent: true }],
      neigh: [{ dev: "vxlan0", ip: "10.1.0.1", mac: "02:00:00:00:00:01", permanent: true }],
    };
    assert.deepEqual(lines(planOverlay([], observed)), ["ip link del vxw4096", "ip link del vxw7"]);
  });
});

void describe("describeOverlayOp", () => {
  void it("describes every kind of operation by its device or entry", () => {
    const dev = "vxw4096";
    const mac = "02:42:0a:20:00:03";
    const ops: OverlayOp[] = [
      { op: "delete-vxlan", name: "vxw7" },
      { op: "create-vxlan", spec },
      { op: "fix-vxlan", name: dev, nolearning: true, setUp: false },
      { op: "del-fdb", dev, mac, dst: "192.168.1.2" },
      { op: "add-fdb", dev, mac, dst: "192.168.1.3" },
      { op: "del-neigh", dev, ip: "10.32.0.3" },
      { op: "set-neigh", dev, ip: "fd00::3", mac },
    ];
    assert.deepEqual(ops.map(describeOverlayOp), [
      "delete vxlan vxw7",
      "create vxlan vxw4096",
      "fix vxlan vxw4096",
      "delete fdb 02:42:0a:20:00:03 dst 192.168.1.2 on vxw4096",
      "add fdb 02:42:0a:20:00:03 dst 192.168.1.3 on vxw4096",
      "delete neighbour 10.32.0.3 on vxw4096",
      "set neighbour fd00::3 lladdr 02:42:0a:20:00:03 on vxw4096",
    ]);
  });
});

void describe("validateOverlay", () => {
  const ep = net.endpoints[0]!;
  void it("accepts valid networks, at the edges of every range too, and they render", () => {
    const edges: OverlayNetwork[] = [
      {
        ...net,
        spec: { ...spec, name: "vxw1", vni: 1, port: 1, mtu: LINK_MIN_MTU, bridge: "b23456789012345" },
      },
      { ...net, spec: { ...spec, name: "vxw16777215", vni: 16777215, port: 65535, mtu: MAX_MTU } },
    ];
    assert.equal(validateOverlay([net, ...edges]), undefined);
    const devices = lines(planOverlay(edges, empty)).filter((l) => l.startsWith("ip link add"));
    assert.deepEqual(devices, [
      "ip link add vxw1 mtu 68 type vxlan id 1 local 192.168.1.1 dstport 1 nolearning proxy",
      "ip link add vxw16777215 mtu 65535 type vxlan id 16777215 local 192.168.1.1 dstport 65535 nolearning proxy",
    ]);
  });
  void it("rejects bad names, VNIs, ports, MTUs, addresses and MACs with WEAVE_BAD_REQUEST", () => {
    rejectsBad([{ ...net, spec: { ...spec, name: "vxw1" } }], /Invalid VXLAN device name "vxw1"/);
    rejectsBad([{ ...net, spec: { ...spec, vni: 0, name: "vxw0" } }], /Invalid VNI 0/);
    rejectsBad([{ ...net, spec: { ...spec, vni: 16777216, name: "vxw16777216" } }], /Invalid VNI/);
    rejectsBad([{ ...net, spec: { ...spec, port: 0 } }], /Invalid UDP port 0/);
    rejectsBad([{ ...net, spec: { ...spec, mtu: LINK_MIN_MTU - 1 } }], /Invalid MTU 67: use 68-65535/);
    rejectsBad([{ ...net, spec: { ...spec, mtu: MAX_MTU + 1 } }], /Invalid MTU 65536/);
    rejectsBad(
      [{ ...net, spec: { ...spec, local: "fd00::1" } }],
      /flood peer "192.168.1.2": expected an IPv6/,
    );
    rejectsBad([{ ...net, spec: { ...spec, local: "10.0.0" } }], /local underlay address "10.0.0"/);
    rejectsBad([{ ...net, spec: { ...spec, bridge: "br; reboot" } }], /Invalid bridge name/);
    rejectsBad([{ ...net, spec: { ...spec, bridge: "b234567890123456" } }], /Invalid bridge name/);
    rejectsBad([{ ...net, floodPeers: ["192.168.1"] }], /flood peer "192.168.1"/);
    rejectsBad([{ ...net, endpoints: [{ ...ep, mac: "01:00:5e:00:00:01" }] }], /Invalid MAC/);
    rejectsBad([{ ...net, endpoints: [{ ...ep, mac: "00:00:00:00:00:00" }] }], /Invalid MAC/);
    rejectsBad([{ ...net, endpoints: [{ ...ep, ipv4: "fd00::3" }] }], /endpoint address "fd00::3"/);
    rejectsBad([{ ...net, endpoints: [{ ...ep, peer: "x" }] }], /Invalid peer "x"/);
  });
  void it("rejects a VNI, MAC or IP desired twice", () => {
    rejectsBad([net, net], /VNI 4096 is desired twice/);
    rejectsBad([{ ...net, endpoints: [ep, { ...ep, ipv4: "10.32.0.9", ipv6: "fd00::9" }] }], /appears twice/);
    rejectsBad(
      [{ ...net, endpoints: [ep, { ...ep, mac: "02:42:0a:20:00:09" }] }],
      /"10.32.0.3" appears twice/,
    );
  });
  void it("rejects before running anything", async () => {
    const fake = new FakeOverlay();
    await assert.rejects(fake.reconcile([{ ...net, spec: { ...spec, port: 70000 } }]), /Invalid UDP port/);
    assert.deepEqual(fake.commands, []);
  });
});

void describe("parsers", () => {
  void it("read real iproute2 6.1 JSON", () => {
    const link = `[{"ifname":"vxw4096","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1350,
      "master":"br-probe","linkinfo":{"info_kind":"vxlan","info_data":{"id":4096,"local":"192.168.9.1",
      "port":4789,"learning":false,"proxy":true}}}]`;
    assert.deepEqual(parseVxlanLinksJson(link), [{ ...goodLink, local: "192.168.9.1", master: "br-probe" }]);
    const fdb = `[{"mac":"33:33:00:00:00:01","ifname":"br-probe","flags":["self"],"state":"permanent"},
      {"mac":"da:65:31:1a:7b:9d","ifname":"vxw4096","flags":[],"master":"br-probe","state":"permanent"},
      {"mac":"00:00:00:00:00:00","ifname":"vxw4096","dst":"192.168.9.3","flags":["self"],"state":"permanent"},
      {"mac":"02:00:00:00:00:02","ifname":"vxlan0","dst":"192.168.9.2","flags":["self"],"state":"permanent"}]`;
    assert.deepEqual(parseFdbJson(fdb), [
      { dev: "vxw4096", mac: "00:00:00:00:00:00", dst: "192.168.9.3", permanent: true },
    ]);
    const neigh = `[{"dst":"10.1.0.3","dev":"vxw4096","lladdr":"02:00:00:00:00:02","state":["PERMANENT"]},
      {"dst":"ff02::2","dev":"vxw4096","lladdr":"33:33:00:00:00:02","state":["NOARP"]},
      {"dst":"10.1.0.4","dev":"vxw4096","state":["FAILED"]},
      {"dst":"10.0.0.1","dev":"eth0","lladdr":"02:00:00:00:00:01","state":["REACHABLE"]}]`;
    assert.deepEqual(parseNeighJson(neigh), [
      { dev: "vxw4096", ip: "10.1.0.3", mac: "02:00:00:00:00:02", permanent: true },
      { dev: "vxw4096", ip: "10.1.0.4", permanent: false },
    ]);
  });
});

void describe("IprouteOverlay (scripted exec)", () => {
  void it("deletes one by one (gone is success), batches per tool, and retries a failed batch once", async () => {
    const orphan =
      '[{"ifname":"vxw7","mtu":1350,"flags":[],"linkinfo":{"info_kind":"vxlan","info_data":{"id":7}}}]';
    let bridgeFails = 1;
    const { exec, calls } = scriptedExec({ "ip -json -details link show": orphan }, (cmd) => {
      if (cmd === "ip link del vxw7") return 'Cannot find device "vxw7"';
      if (cmd.startsWith("bridge -batch") && bridgeFails-- > 0) return "RTNETLINK answers: File exists";
      return undefined;
    });
    const report = await new IprouteOverlay({ exec, logger: silentLogger }).reconcile([net]);
    assert.equal(report.applied[0], "delete vxlan vxw7");
    // The first line of each write: the bridge batch fails once (the neighbour batch beside it
    // runs), then everything is planned again.
    const writes = calls.filter((c) => !c.includes("-json")).map((c) => c.split("\n")[0]);
    const pass = [
      "ip link del vxw7",
      "ip -batch - <<< link add vxw4096 mtu 1350 type vxlan id 4096 local 192.168.1.1 dstport 4789 nolearning proxy",
      "bridge -batch - <<< fdb append 00:00:00:00:00:00 dev vxw4096 dst 192.168.1.2 self permanent",
      "ip -batch - <<< neigh replace 10.32.0.3 lladdr 02:42:0a:20:00:03 dev vxw4096 nud permanent",
    ];
    assert.deepEqual(writes, [...pass, ...pass]);
  });

  void it("refuses an invalid network before running anything", async () => {
    const { exec, calls } = scriptedExec({}, () => undefined);
    const overlay = new IprouteOverlay({ exec, logger: silentLogger });
    await assert.rejects(overlay.reconcile([{ ...net, spec: { ...spec, mtu: 67 } }]), {
      code: "WEAVE_BAD_REQUEST",
      message: "Invalid MTU 67: use 68-65535",
    });
    assert.deepEqual(calls, []);
  });

  void it("fails with WEAVE_DATAPLANE quoting stderr when the retry fails too", async () => {
    const { exec } = scriptedExec({}, (cmd) =>
      cmd.startsWith("ip -batch") ? "Error: no bridge" : undefined,
    );
    await assert.rejects(
      new IprouteOverlay({ exec, logger: silentLogger }).reconcile([net]),
      (err: unknown) => isWeaveError(err, "WEAVE_DATAPLANE") && /no bridge/.test(err.message),
    );
  });

  void it("routeMtu takes the lower of the route's MTU metric and the device's MTU", async () => {
    const route = '[{"dst":"10.77.0.5","dev":"ula","metrics":[{"mtu":1300}]}]';
    const { exec, calls } = scriptedExec(
      { "ip -json route get": route, "ip -json link": '[{"mtu":1400}]' },
      () => undefined,
    );
    const overlay = new IprouteOverlay({ exec, logger: silentLogger });
    assert.equal(await overlay.routeMtu("10.77.0.5"), 1300);
    assert.equal(calls[1], "ip -json link show dev ula");
    await assert.rejects(overlay.routeMtu("-x"), (err: unknown) => isWeaveError(err, "WEAVE_BAD_REQUEST"));
  });
});

void describe("FakeOverlay", () => {
  void it("records the commands, is idempotent and reports a settable route MTU", async () => {
    const fake = new FakeOverlay();
    const report = await fake.reconcile([net]);
    assert.deepEqual(fake.commands, [...OVERLAY_READS, ...lines(planOverlay([net], empty))]);
    assert.equal(report.applied[0], "create vxlan vxw4096");
    assert.deepEqual((await fake.reconcile([net])).applied, []);
    assert.deepEqual((await fake.reconcile([])).applied, ["delete vxlan vxw4096"]);
    assert.deepEqual(fake.observe(), empty);
    assert.equal(await fake.routeMtu("192.168.1.2"), undefined);
    fake.setRouteMtu(1400);
    fake.setRouteMtu(9000, "10.0.0.1");
    assert.equal(await fake.routeMtu("192.168.1.2"), 1400);
    assert.equal(await fake.routeMtu("10.0.0.1"), 9000);
  });

  void it("fails when the master bridge does not exist", async () => {
    const fake = new FakeOverlay();
    fake.bridges = new Set(["weave-b"]);
    await assert.rejects(fake.reconcile([net]), (err: unknown) => isWeaveError(err, "WEAVE_DATAPLANE"));
  });
});

const octet = fc.integer({ min: 1, max: 3 });
const peerArb = octet.map((n) => `192.168.1.${n}`);
const macArb = fc.integer({ min: 1, max: 6 }).map((n) => `02:42:0a:20:00:0${n}`);
const vniArb = fc.integer({ min: 1, max: 4 });
const endpointArb = fc.record({ mac: macArb, peer: peerArb, v4: fc.boolean(), v6: fc.boolean() });
const networkArb = fc
  .record({
    vni: vniArb,
    port: fc.constantFrom(4789, 8472),
    local: peerArb,
    mtu: fc.constantFrom(1350, 1450),
    bridge: fc.constantFrom("weave-a", "weave-b"),
    floodPeers: fc.array(peerArb, { maxLength: 3 }),
    endpoints: fc.uniqueArray(endpointArb, { maxLength: 4, selector: (e) => e.mac }),
  })
  .map((n): OverlayNetwork => ({
    spec: { name: vxlanName(n.vni), vni: n.vni, port: n.port, local: n.local, mtu: n.mtu, bridge: n.bridge },
    floodPeers: n.floodPeers,
    endpoints: n.endpoints.map((e) => ({
      mac: e.mac,
      peer: e.peer,
      ...(e.v4 ? { ipv4: `10.32.0.${e.mac.slice(-1)}` } : {}),
      ...(e.v6 ? { ipv6: `FD00::${e.mac.slice(-1)}` } : {}),
    })),
  }));
const desiredArb = fc.uniqueArray(networkArb, { maxLength: 3, selector: (n) => n.spec.vni });

/** Every FDB and neighbour entry of the fake kernel as sorted text (`permanent` marked). */
function kernelEntries(fake: FakeOverlay): string[] {
  const fdb = fake.fdb.map((e) => `${e.dev} ${e.mac} ${e.dst} ${e.permanent ? "permanent" : ""}`);
  const neigh = fake.neigh.map((e) => `${e.dev} ${e.ip} ${e.mac ?? ""} ${e.permanent ? "permanent" : ""}`);
  return [...fdb, ...neigh].sort();
}

/** What kernelEntries should be for `desired`, computed independently of the planner. */
function wantedEntries(desired: OverlayNetwork[]): string[] {
  return desired
    .flatMap(({ spec: { name }, floodPeers, endpoints }) => [
      ...new Set(floodPeers.map((p) => `${name} 00:00:00:00:00:00 ${p} permanent`)),
      ...endpoints.flatMap((e) => [
        `${name} ${e.mac} ${e.peer} permanent`,
        ...(e.ipv4 !== undefined ? [`${name} ${e.ipv4} ${e.mac} permanent`] : []),
        ...(e.ipv6 !== undefined ? [`${name} ${e.ipv6.toLowerCase()} ${e.mac} permanent`] : []),
      ]),
    ])
    .sort();
}

void describe("planOverlay property", () => {
  void it("applying the plan to the fake kernel, from any weave state, leaves nothing to do", async () => {
    await fc.assert(
      fc.asyncProperty(desiredArb, desiredArb, fc.boolean(), async (before, after, drift) => {
        const fake = new FakeOverlay();
        fake.links.set("vxlan0", { ...goodLink, name: "vxlan0" });
        await fake.reconcile(before);
        if (drift) {
          // Someone changed things behind weave's back.
          for (const link of fake.links.values())
            Object.assign(link, { learning: true, up: false, mtu: 1500 });
          fake.neigh = fake.neigh.map((e) => ({ ...e, permanent: false }));
          fake.fdb = fake.fdb.map((e) => ({ ...e, permanent: false }));
          if (fake.links.has("vxw1")) {
            fake.fdb.push({ dev: "vxw1", mac: "02:42:0a:20:00:07", dst: "192.168.1.9", permanent: false });
          }
        }
        await fake.reconcile(after);
        assert.deepEqual(planOverlay(after, fake.observe()), []);
        assert.deepEqual((await fake.reconcile(after)).applied, []);
        assert.ok(fake.links.has("vxlan0"), "a foreign link survives");
        assert.deepEqual(kernelEntries(fake), wantedEntries(after));
        const names = [...fake.links.keys()].filter(isWeaveVxlanName).sort();
        assert.deepEqual(names, after.map((n) => n.spec.name).sort());
      }),
      { numRuns: 300 },
    );
  });
});
