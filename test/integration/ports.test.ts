/**
 * The published-port adapter (NftPortDataplane) in a scratch network namespace: the kernel accepts
 * the rendered `inet weave-ports` table for every form of binding, the kernel settings land on the
 * bridge and its port, applying twice is harmless, and an empty set removes the table.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/core/index.js";
import { NftPortDataplane } from "../../src/ports/index.js";
import type { PortRule } from "../../src/ports/index.js";
import { assertRunnable, Netns, nsExec, rootSkip } from "./helpers/netns.js";

const TOOLS = ["ip", "nft", "nsenter", "sysctl"];

const base = { bridge: "weave-pt", hostIf: "vwept00000001", containerPort: 80 };
const RULES: PortRule[] = [
  { ...base, proto: "tcp", family: 4, hostIp: "0.0.0.0", hostPort: 18080, containerIp: "10.90.0.2" },
  { ...base, proto: "tcp", family: 6, hostIp: "::", hostPort: 18080, containerIp: "fd90::2" },
  { ...base, proto: "tcp", family: 4, hostIp: "127.0.0.1", hostPort: 18081, containerIp: "10.90.0.2" },
  { ...base, proto: "tcp", family: 4, hostIp: "192.0.2.10", hostPort: 18082, containerIp: "10.90.0.2" },
  { ...base, proto: "tcp", family: 6, hostIp: "fd91::1", hostPort: 18083, containerIp: "fd90::2" },
  {
    ...base,
    proto: "udp",
    family: 4,
    hostIp: "0.0.0.0",
    hostPort: 15353,
    containerIp: "10.90.0.2",
    containerPort: 53,
  },
];

void describe("NftPortDataplane in a scratch network namespace (root)", { skip: rootSkip(TOOLS) }, () => {
  const netns = new Netns();
  let ns = "";
  let dp: NftPortDataplane;

  before(async () => {
    assertRunnable(TOOLS);
    ns = await netns.add("ports");
    await netns.ip(ns, "link add weave-pt type bridge");
    await netns.ip(ns, "link add vwept00000001 type veth peer name vwppt00000001");
    await netns.ip(ns, "link set vwept00000001 master weave-pt");
    dp = new NftPortDataplane(nsExec(ns), silentLogger);
  });
  after(() => netns.cleanup());

  const table = async (): Promise<string> => (await netns.sh(ns, "nft list table inet weave-ports")).stdout;

  it("applies DNAT, localhost and hairpin rules for every form, and the kernel settings", async () => {
    await dp.apply(RULES);
    await dp.apply(RULES);
    const text = await table();
    for (const line of [
      "fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 18080 dnat ip to 10.90.0.2:80",
      "fib daddr type local ip6 daddr != ::1 tcp dport 18080 dnat ip6 to [fd90::2]:80",
      "ip daddr 127.0.0.1 tcp dport 18081 dnat ip to 10.90.0.2:80",
      "ip daddr 192.0.2.10 tcp dport 18082 dnat ip to 10.90.0.2:80",
      "ip6 daddr fd91::1 tcp dport 18083 dnat ip6 to [fd90::2]:80",
      "udp dport 15353 dnat ip to 10.90.0.2:53",
      'oifname "weave-pt" ip saddr 127.0.0.0/8 ct status dnat masquerade',
      "ip saddr 10.90.0.2 ip daddr 10.90.0.2 tcp dport 80 ct status dnat masquerade",
    ]) {
      assert.ok(text.includes(line), `missing "${line}" in:\n${text}`);
    }
    assert.equal(text.split("dport 18081").length - 1, 1, "127.0.0.1 only in output, once");
    const localnet = await netns.sh(ns, "sysctl -n net.ipv4.conf.weave-pt.route_localnet");
    assert.equal(localnet.stdout.trim(), "1");
    const port = await netns.ip(ns, "-json -details link show vwept00000001");
    assert.match(port.stdout, /"hairpin":true/);
  });

  it("an empty set removes the table", async () => {
    await dp.apply([]);
    assert.equal((await netns.sh(ns, "nft list table inet weave-ports")).code !== 0, true);
    await dp.apply([]);
  });
});
