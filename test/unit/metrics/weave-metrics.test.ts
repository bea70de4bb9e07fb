import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { AddressRecord, PoolRecord } from "../../../src/store/index.js";
import {
  createWeaveMetrics,
  PLUGIN_CALL_BUCKETS,
  poolUsage,
  SINGLE_HOST_PEERS,
  type PeerState,
  type PoolUsage,
} from "../../../src/metrics/index.js";

function pool(id: string, cidr: string, subPool: string | null = null): PoolRecord {
  return {
    id,
    family: cidr.includes(":") ? 6 : 4,
    pool: cidr,
    subPool,
    addressSpace: "LocalDefault",
    options: {},
    replayPending: false,
    createdAt: 0,
  };
}

function addr(poolId: string, address: string, kind: "gateway" | "endpoint" = "endpoint"): AddressRecord {
  return { poolId, address, kind, replayPending: false, createdAt: 0 };
}

/** The value of the sample line `name{labels}` (labels as written), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

void describe("poolUsage", () => {
  void it("counts allocated addresses against the usable addresses of each pool", () => {
    const pools = [pool("p1", "10.32.0.0/24"), pool("p2", "10.40.0.0/16", "10.40.1.0/28")];
    const addresses = [
      addr("p1", "10.32.0.1", "gateway"),
      addr("p1", "10.32.0.2"),
      addr("p1", "10.32.0.3"),
      addr("p2", "10.40.0.1", "gateway"), // outside the --ip-range: not counted against it
      addr("p2", "10.40.1.5"),
    ];
    assert.deepEqual(poolUsage(pools, addresses), [
      { pool: "10.32.0.0/24", allocated: 3, size: 254 },
      { pool: "10.40.0.0/16", allocated: 1, size: 14 },
    ]);
  });

  void it("is bigint-safe for IPv6: a /64 has 2^64 - 1 usable addresses, as a Number", () => {
    const usage = poolUsage([pool("p6", "fd00:1::/64")], [addr("p6", "fd00:1::1", "gateway")]);
    assert.deepEqual(usage, [{ pool: "fd00:1::/64", allocated: 1, size: 2 ** 64 }]);
    assert.equal(poolUsage([pool("p", "fd00::/126")], [])[0]?.size, 3);
  });

  void it("skips records that do not parse", () => {
    assert.deepEqual(poolUsage([pool("x", "nonsense")], [addr("x", "10.0.0.1")]), []);
    assert.deepEqual(poolUsage([pool("p", "10.0.0.0/30")], [addr("p", "junk")]), [
      { pool: "10.0.0.0/30", allocated: 0, size: 2 },
    ]);
  });
});

void describe("weave metrics", () => {
  function setup(over: { pools?: PoolUsage[]; peers?: PeerState[]; docker?: boolean } = {}) {
    return createWeaveMetrics({
      version: "1.2.3",
      pools: () => over.pools ?? [],
      networks: () => 2,
      endpoints: () => 5,
      peers: () => over.peers ?? SINGLE_HOST_PEERS,
      dockerReachable: () => over.docker ?? true,
    });
  }

  void it("exposes every family with HELP and TYPE", () => {
    const text = setup().registry.expose();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(types, [
      "weave_build_info gauge",
      "weave_plugin_calls_total counter",
      "weave_plugin_call_duration_seconds histogram",
      "weave_dns_queries_total counter",
      "weave_ipam_pool_addresses gauge",
      "weave_ipam_pool_size gauge",
      "weave_networks gauge",
      "weave_endpoints gauge",
      "weave_peers gauge",
      "weave_peer_info gauge",
      "weave_peer_up gauge",
      "weave_peer_mtu_bytes gauge",
      "weave_wireguard_handshake_age_seconds gauge",
      "weave_docker_reachable gauge",
    ]);
    for (const [, name] of text.matchAll(/^# TYPE (\S+) /gm))
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
    assert.equal(sample(text, 'weave_build_info{version="1.2.3"}'), 1);
    assert.equal(sample(text, "weave_networks"), 2);
    assert.equal(sample(text, "weave_endpoints"), 5);
    assert.equal(sample(text, 'weave_peers{state="up"}'), 1);
    assert.equal(sample(text, "weave_docker_reachable"), 1);
  });

  void it("shows each peer's path: transport, encryption, up, MTU and handshake age", () => {
    const path = (transport: string, encryption: string, up: boolean, age: number | null) => ({
      transport,
      encryption,
      mtu: 1350,
      handshakeAgeS: age,
      up,
    });
    const text = setup({
      peers: [
        { name: "self", state: "up" },
        { name: "b", state: "up", path: path("routed", "wireguard", true, 12) },
        { name: "c", state: "down", path: path("vxlan", "mismatch", false, null) },
      ],
    }).registry.expose();
    assert.equal(sample(text, 'weave_peer_info{peer="b",transport="routed",encryption="wireguard"}'), 1);
    assert.equal(sample(text, 'weave_peer_info{peer="c",transport="vxlan",encryption="mismatch"}'), 1);
    assert.equal(sample(text, 'weave_peer_up{peer="b"}'), 1);
    assert.equal(sample(text, 'weave_peer_up{peer="c"}'), 0);
    assert.equal(sample(text, 'weave_peer_mtu_bytes{peer="b"}'), 1350);
    assert.equal(sample(text, 'weave_wireguard_handshake_age_seconds{peer="b"}'), 12);
    assert.doesNotMatch(text, /handshake_age_seconds\{peer="c"\}/);
    assert.doesNotMatch(text, /peer="self"/);
  });

  void it("counts the peers of a cluster by state, one series per state", () => {
    const m = setup({
      peers: [
        { name: "a", state: "up" },
        { name: "b", state: "up" },
        { name: "c", state: "down" },
      ],
    });
    const text = m.registry.expose();
    assert.equal(sample(text, 'weave_peers{state="up"}'), 2);
    assert.equal(sample(text, 'weave_peers{state="down"}'), 1);
    assert.equal(text.match(/^weave_peers\{/gm)?.length, 2);
  });

  void it("counts plugin calls by method and outcome, with their duration per method", () => {
    const m = setup();
    m.pluginCall("NetworkDriver.CreateEndpoint", "ok", 0.004);
    m.pluginCall("NetworkDriver.CreateEndpoint", "ok", 0.02);
    m.pluginCall("NetworkDriver.CreateEndpoint", "error", 0.001);
    const text = m.registry.expose();
    assert.equal(
      sample(text, 'weave_plugin_calls_total{method="NetworkDriver.CreateEndpoint",outcome="ok"}'),
      2,
    );
    assert.equal(
      sample(text, 'weave_plugin_calls_total{method="NetworkDriver.CreateEndpoint",outcome="error"}'),
      1,
    );
    const series = 'weave_plugin_call_duration_seconds_bucket{method="NetworkDriver.CreateEndpoint"';
    assert.equal(sample(text, `${series},le="0.001"}`), 1);
    assert.equal(sample(text, `${series},le="0.005"}`), 2);
    assert.equal(sample(text, `${series},le="0.025"}`), 3);
    assert.equal(sample(text, `${series},le="+Inf"}`), 3);
    assert.equal(
      sample(text, 'weave_plugin_call_duration_seconds_count{method="NetworkDriver.CreateEndpoint"}'),
      3,
    );
    assert.equal(text.split("\n").filter((l) => l.startsWith(series)).length, PLUGIN_CALL_BUCKETS.length + 1);
  });

  void it("counts DNS queries by type and outcome, adding batch counts; unnamed types are 'other'", () => {
    const m = setup();
    m.dnsQuery("A", "answer", 1);
    m.dnsQuery("A", "answer", 41);
    m.dnsQuery("AAAA", "nodata", 1);
    m.dnsQuery("TYPE65280", "refused", 1);
    m.dnsQuery("TYPE999", "refused", 2);
    const text = m.registry.expose();
    assert.equal(sample(text, 'weave_dns_queries_total{qtype="A",outcome="answer"}'), 42);
    assert.equal(sample(text, 'weave_dns_queries_total{qtype="AAAA",outcome="nodata"}'), 1);
    assert.equal(sample(text, 'weave_dns_queries_total{qtype="other",outcome="refused"}'), 3);
    assert.doesNotMatch(text, /TYPE65280/);
  });

  void it("reads pools, peers and Docker at scrape time", () => {
    const text = setup({
      pools: [{ pool: "10.32.0.0/24", allocated: 3, size: 254 }],
      peers: [
        { name: "self", state: "up" },
        { name: "b", state: "up" },
        { name: "c", state: "down" },
      ],
      docker: false,
    }).registry.expose();
    assert.equal(sample(text, 'weave_ipam_pool_addresses{pool="10.32.0.0/24"}'), 3);
    assert.equal(sample(text, 'weave_ipam_pool_size{pool="10.32.0.0/24"}'), 254);
    assert.equal(sample(text, 'weave_peers{state="up"}'), 2);
    assert.equal(sample(text, 'weave_peers{state="down"}'), 1);
    assert.equal(sample(text, "weave_docker_reachable"), 0);
  });
});
