import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError, KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import type { JsonObject } from "../../../src/core/index.js";
import {
  FakePortDataplane,
  FakePortReserver,
  OPT_PORTMAP,
  PortPublisher,
  renderPortRuleset,
} from "../../../src/ports/index.js";
import { openSqliteState } from "../../../src/store/index.js";
import type { LocalState } from "../../../src/store/index.js";

const NET = "n".repeat(64);
const INTERNAL = "i".repeat(64);
const EP1 = "1".repeat(64);
const EP2 = "2".repeat(64);

function harness(onAllocatedConflict?: () => void) {
  const state: LocalState = openSqliteState(":memory:");
  const net = { mtu: 1450, ipv6: [], options: {}, createdAt: 1 };
  state.putNetwork({ ...net, id: NET, bridge: "weave-n", internal: false, ipv4: [{ Pool: "10.32.0.0/24" }] });
  state.putNetwork({
    ...net,
    id: INTERNAL,
    bridge: "weave-i",
    internal: true,
    ipv4: [{ Pool: "10.33.0.0/24" }],
  });
  const ep = (id: string, ipv4: string, ipv6: string | null, networkId = NET) =>
    state.putEndpoint({
      id,
      networkId,
      hostIf: `vwe${id.slice(0, 10)}`,
      peerIf: `vwp${id.slice(0, 10)}`,
      mac: "02:42:0a:20:00:02",
      ipv4,
      ipv6,
      sandboxKey: `/run/docker/netns/${id.slice(0, 12)}`,
      createdAt: 1,
    });
  ep(EP1, "10.32.0.2/24", "fd00::2/64");
  ep(EP2, "10.32.0.3/24", null);
  const dataplane = new FakePortDataplane();
  const reserver = new FakePortReserver();
  const publisher = new PortPublisher({
    state,
    dataplane,
    reserver,
    queue: new KeyedSerialQueue(),
    logger: silentLogger,
    now: () => 5,
    ephemeral: { start: 40000, end: 40002 },
    ...(onAllocatedConflict ? { onAllocatedConflict } : {}),
  });
  return { state, dataplane, reserver, publisher, ep };
}

const portmap = (...e: [number, number, string?, number?][]): JsonObject => ({
  [OPT_PORTMAP]: e.map(([port, hostPort, hostIp = "", proto = 6]) => ({
    Proto: proto,
    IP: "",
    Port: port,
    HostIP: hostIp,
    HostPort: hostPort,
    HostPortEnd: hostPort,
  })),
});
const ref = (endpointId: string, networkId = NET) => ({ networkId, endpointId });

void describe("PortPublisher", () => {
  void it("publishes -p 18080:80 on both families of a dual-stack endpoint and renders the rules", async () => {
    const h = harness();
    await h.publisher.program(ref(EP1), portmap([80, 18080]));
    assert.deepEqual(h.reserver.heldKeys(), ["tcp 4 0.0.0.0 18080", "tcp 6 :: 18080"]);
    assert.deepEqual(h.dataplane.commands.slice(-4), [
      "sysctl -qw net.ipv4.conf.weave-n.route_localnet=1",
      "ip link set dev vwe1111111111 type bridge_slave hairpin on",
      "sysctl -qw net.ipv6.conf.all.forwarding=1",
      "nft -f -",
    ]);
    assert.equal(
      h.dataplane.ruleset,
      [
        "table inet weave-ports {}",
        "delete table inet weave-ports",
        "table inet weave-ports {",
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority dstnat; policy accept;",
        "\t\tfib daddr type local ip daddr != 127.0.0.0/8 tcp dport 18080 dnat ip to 10.32.0.2:80",
        "\t\tfib daddr type local ip6 daddr != ::1 tcp dport 18080 dnat ip6 to [fd00::2]:80",
        "\t}",
        "\tchain output {",
        "\t\ttype nat hook output priority -100; policy accept;",
        "\t\tfib daddr type local meta nfproto ipv4 tcp dport 18080 dnat ip to 10.32.0.2:80",
        "\t\tfib daddr type local ip6 daddr != ::1 tcp dport 18080 dnat ip6 to [fd00::2]:80",
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        '\t\toifname "weave-n" ip saddr 127.0.0.0/8 ct status dnat masquerade',
        "\t\tip saddr 10.32.0.2 ip daddr 10.32.0.2 tcp dport 80 ct status dnat masquerade",
        "\t\tip6 saddr fd00::2 ip6 daddr fd00::2 tcp dport 80 ct status dnat masquerade",
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
    // Reported back in Docker's shape.
    assert.deepEqual(h.publisher.info(EP1), {
      [OPT_PORTMAP]: [
        { Proto: 6, IP: "10.32.0.2", Port: 80, HostIP: "0.0.0.0", HostPort: 18080, HostPortEnd: 18080 },
        { Proto: 6, IP: "fd00::2", Port: 80, HostIP: "::", HostPort: 18080, HostPortEnd: 18080 },
      ],
    });
  });

  void it("a host address gets rules for that address only; 127.0.0.1 only from the host itself", async () => {
    const h = harness();
    await h.publisher.program(
      ref(EP2),
      portmap([80, 8081, "192.168.1.5"], [80, 8082, "127.0.0.1"], [53, 8053, "", 17]),
    );
    const rules = h.dataplane.ruleset.split("\n").filter((l) => l.includes("dnat"));
    // Ordered by host port (as the state lists them).
    assert.deepEqual(rules, [
      "\t\tfib daddr type local ip daddr != 127.0.0.0/8 udp dport 8053 dnat ip to 10.32.0.3:53",
      "\t\tip daddr 192.168.1.5 tcp dport 8081 dnat ip to 10.32.0.3:80",
      "\t\tfib daddr type local meta nfproto ipv4 udp dport 8053 dnat ip to 10.32.0.3:53",
      "\t\tip daddr 192.168.1.5 tcp dport 8081 dnat ip to 10.32.0.3:80",
      "\t\tip daddr 127.0.0.1 tcp dport 8082 dnat ip to 10.32.0.3:80",
      '\t\toifname "weave-n" ip saddr 127.0.0.0/8 ct status dnat masquerade',
      "\t\tip saddr 10.32.0.3 ip daddr 10.32.0.3 udp dport 53 ct status dnat masquerade",
      "\t\tip saddr 10.32.0.3 ip daddr 10.32.0.3 tcp dport 80 ct status dnat masquerade",
    ]);
  });

  void it("picks host ports from the ephemeral range round-robin, and from an asked range", async () => {
    const h = harness();
    await h.publisher.program(ref(EP2), {
      [OPT_PORTMAP]: [
        { Proto: 6, Port: 80 },
        { Proto: 6, Port: 81 },
      ],
    });
    assert.deepEqual(
      h.state.listPortBindings(EP2).map((b) => `${b.containerPort}->${b.hostPort}`),
      ["80->40000", "81->40001"],
    );
    h.reserver.busy.add("tcp 9000");
    await h.publisher.program(ref(EP1), {
      [OPT_PORTMAP]: [{ Proto: 6, Port: 80, HostPort: 9000, HostPortEnd: 9002 }],
    });
    assert.deepEqual(
      h.state.listPortBindings(EP1).map((b) => `${b.family} ${b.hostPort}`),
      ["4 9001", "6 9001"],
    );
  });

  void it("refuses a port another container publishes, leaving nothing half-programmed", async () => {
    let nudged = 0;
    const h = harness(() => nudged++);
    await h.publisher.program(ref(EP1), portmap([80, 18080]));
    const ruleset = h.dataplane.ruleset;
    await assert.rejects(
      h.publisher.program(ref(EP2), portmap([81, 18081], [80, 18080, "127.0.0.1"])),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_CONFLICT") &&
        /Bind for 127\.0\.0\.1:18080\/tcp failed: port is already allocated \(published by endpoint 111111111111\)/.test(
          err.message,
        ),
    );
    assert.deepEqual(h.state.listPortBindings(EP2), []);
    assert.equal(nudged, 1, "the Docker sync is asked to look for a lost container");
    assert.deepEqual(h.reserver.heldKeys(), ["tcp 4 0.0.0.0 18080", "tcp 6 :: 18080"]);
    assert.equal(h.dataplane.ruleset, ruleset);
  });

  void it("refuses a port a process on the host holds", async () => {
    const h = harness();
    h.reserver.busy.add("udp 5353");
    await assert.rejects(
      h.publisher.program(ref(EP2), portmap([80, 18080], [53, 5353, "", 17])),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_CONFLICT") && /0\.0\.0\.0:5353\/udp.*already in use/.test(err.message),
    );
    assert.deepEqual(h.reserver.heldKeys(), []);
    assert.deepEqual(h.state.listPortBindings(), []);
  });

  void it("rolls back when the rules cannot be applied", async () => {
    const h = harness();
    h.dataplane.failNext = true;
    await assert.rejects(h.publisher.program(ref(EP2), portmap([80, 18080])), /injected/);
    assert.deepEqual(h.state.listPortBindings(), []);
    assert.deepEqual(h.reserver.heldKeys(), []);
  });

  void it("an internal network refuses published ports at Join", () => {
    const h = harness();
    assert.throws(
      () => h.publisher.checkJoin(INTERNAL, portmap([80, 18080])),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_BAD_REQUEST") &&
        /is internal: it cannot publish ports \(asked: 80\/tcp\)/.test(err.message),
    );
    h.publisher.checkJoin(INTERNAL, portmap());
    h.publisher.checkJoin(NET, portmap([80, 18080]));
  });

  void it("revoke removes every binding, reservation and rule", async () => {
    const h = harness();
    await h.publisher.program(ref(EP1), portmap([80, 18080]));
    await h.publisher.revoke(ref(EP1));
    assert.deepEqual(h.state.listPortBindings(), []);
    assert.deepEqual(h.reserver.heldKeys(), []);
    assert.equal(h.dataplane.ruleset, renderPortRuleset([]));
    assert.equal(h.dataplane.ruleset, "table inet weave-ports {}\ndelete table inet weave-ports\n");
  });

  void it("converge holds recorded ports again (weave restarted) and re-applies the rules", async () => {
    const h = harness();
    await h.publisher.program(ref(EP1), portmap([80, 18080]));
    await h.publisher.program(ref(EP2), portmap([80, 18081]));
    const restarted = new FakePortReserver();
    const again = new PortPublisher({
      state: h.state,
      dataplane: h.dataplane,
      reserver: restarted,
      queue: new KeyedSerialQueue(),
      logger: silentLogger,
      now: () => 6,
      ephemeral: { start: 40000, end: 40002 },
    });
    h.dataplane.ruleset = "";
    await again.converge();
    assert.deepEqual(restarted.heldKeys(), ["tcp 4 0.0.0.0 18080", "tcp 4 0.0.0.0 18081", "tcp 6 :: 18080"]);
    assert.match(h.dataplane.ruleset, /dport 18080 dnat ip to 10\.32\.0\.2:80/);
    assert.match(h.dataplane.ruleset, /dport 18081 dnat ip to 10\.32\.0\.3:80/);
  });

  void it("a deleted endpoint takes its bindings with it (state cascade), converge releases the ports", async () => {
    const h = harness();
    await h.publisher.program(ref(EP2), portmap([80, 18080]));
    h.state.deleteEndpoint(EP2);
    await h.publisher.converge();
    assert.deepEqual(h.reserver.heldKeys(), []);
    assert.doesNotMatch(h.dataplane.ruleset, /dnat/);
  });

  void it("a container that publishes nothing runs no nft; a revoke after the endpoint is gone still cleans up", async () => {
    const h = harness();
    await h.publisher.program(ref(EP1), portmap());
    await h.publisher.revoke(ref(EP1));
    assert.deepEqual(h.dataplane.commands, []);
    await h.publisher.program(ref(EP2), portmap([80, 18080]));
    h.state.deleteEndpoint(EP2); // DeleteEndpoint: the driver deletes first, the bindings cascade
    await h.publisher.revoke(ref(EP2));
    assert.deepEqual(h.reserver.heldKeys(), []);
    assert.doesNotMatch(h.dataplane.ruleset, /dnat/);
  });
});
