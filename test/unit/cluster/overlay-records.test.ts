import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { endpointKey } from "../../../src/cluster/records.js";
import type { ViewInputs } from "../../../src/cluster/transport-view.js";
import {
  choosePaths,
  parseClusterNetwork,
  parseDnsRecordSet,
  parsePeer,
  parsePublishedEndpoint,
  transportView,
  vxlanNetworks,
} from "../../../src/cluster/index.js";
import type { NetworkRecord } from "../../../src/store/index.js";

const net = (id: string, clusterId: string | undefined, bridge: string): NetworkRecord => ({
  id,
  bridge,
  mtu: 1350,
  internal: false,
  ipv4: [{ Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }],
  ipv6: [],
  options: clusterId ? { "weave.cluster.id": clusterId } : {},
  createdAt: 0,
});

const cluster = (clusterId: string, vni: number) => ({
  clusterId,
  name: `n${vni}`,
  vni,
  ipv4: [{ pool: "10.32.0.0/24" }],
  ipv6: [],
  internal: false,
  options: {},
  host: "a",
  createdAt: 0,
});

const peer = (name: string, address: string) => ({
  name,
  address,
  vxlanPort: 4789,
  version: "x",
  startedAt: 0,
  seenAt: 0,
});

/** The VXLAN transport's plan over the view, every peer reached by VXLAN (as before --transport). */
function desiredOverlay(i: ViewInputs & { local: string; port: number }) {
  const view = transportView(i);
  const paths = choosePaths(view.peers, { mode: "vxlan", attached: [], underlayMtu: 1400 });
  return vxlanNetworks({ view, paths, local: i.local }, i.port);
}

void describe("VXLAN plan from the transport-neutral view", () => {
  void it("programs each local cluster network: flood to peers with endpoints, one entry per remote endpoint", () => {
    const out = desiredOverlay({
      host: "a",
      local: "192.168.1.1",
      port: 4789,
      networks: [net("N1", "c1", "weave"), net("N2", undefined, "weave-local"), net("N3", "c3", "weave-x")],
      cluster: [cluster("c1", 4096), cluster("c3", 4097)],
      peers: [peer("a", "192.168.1.1"), peer("b", "192.168.1.2"), peer("c", "192.168.1.3")],
      endpoints: [
        {
          host: "a",
          clusterId: "c1",
          key: endpointKey("a", "c1", "e0"),
          mac: "02:42:0a:20:00:02",
          ipv4: "10.32.0.2/24",
          ipv6: "",
        },
        {
          host: "b",
          clusterId: "c1",
          key: endpointKey("b", "c1", "e1"),
          mac: "02:42:0a:20:00:12",
          ipv4: "10.32.0.18/24",
          ipv6: "",
        },
        {
          host: "b",
          clusterId: "c1",
          key: endpointKey("b", "c1", "e2"),
          mac: "02:42:0a:20:00:13",
          ipv4: "10.32.0.19/24",
          ipv6: "fd00::13/64",
        },
        // A peer whose registration expired: its endpoints are left out.
        {
          host: "gone",
          clusterId: "c1",
          key: endpointKey("gone", "c1", "e3"),
          mac: "02:42:0a:20:00:22",
          ipv4: "10.32.0.34/24",
          ipv6: "",
        },
        {
          host: "c",
          clusterId: "c3",
          key: endpointKey("c", "c3", "e4"),
          mac: "02:42:0a:20:00:23",
          ipv4: "10.32.0.35/24",
          ipv6: "",
        },
      ],
    });
    assert.deepEqual(out, [
      {
        spec: { name: "vxw4096", vni: 4096, port: 4789, local: "192.168.1.1", mtu: 1350, bridge: "weave" },
        floodPeers: ["192.168.1.2"],
        endpoints: [
          { mac: "02:42:0a:20:00:12", peer: "192.168.1.2", ipv4: "10.32.0.18" },
          { mac: "02:42:0a:20:00:13", peer: "192.168.1.2", ipv4: "10.32.0.19", ipv6: "fd00::13" },
        ],
      },
      {
        spec: { name: "vxw4097", vni: 4097, port: 4789, local: "192.168.1.1", mtu: 1350, bridge: "weave-x" },
        floodPeers: ["192.168.1.3"],
        endpoints: [{ mac: "02:42:0a:20:00:23", peer: "192.168.1.3", ipv4: "10.32.0.35" }],
      },
    ]);
  });

  void it("leaves out a network whose cluster record is not known yet", () => {
    const out = desiredOverlay({
      host: "a",
      local: "192.168.1.1",
      port: 4789,
      networks: [net("N1", "c1", "weave")],
      cluster: [],
      peers: [],
      endpoints: [],
    });
    assert.deepEqual(out, []);
  });
});

void describe("cluster records", () => {
  void it("parse what weave writes and reject damaged or foreign values without throwing", () => {
    assert.deepEqual(parsePeer(JSON.stringify(peer("b", "10.0.0.2"))), peer("b", "10.0.0.2"));
    for (const bad of ["", "{", "[]", "null", '{"name":1}', '{"name":"b","address":"x"}']) {
      assert.equal(parsePeer(bad), undefined, bad);
      assert.equal(parseClusterNetwork(bad), undefined, bad);
      assert.equal(parsePublishedEndpoint(bad), undefined, bad);
      assert.equal(parseDnsRecordSet(bad), undefined, bad);
    }
    const n = { ...cluster("c1", 4096), removed: { host: "b", at: 5 } };
    assert.deepEqual(parseClusterNetwork(JSON.stringify(n)), n);
    assert.deepEqual(
      parseDnsRecordSet('{"entries":[{"name":"db.weave.local.","ipv4":["10.32.0.2"],"ipv6":[]}]}'),
      {
        entries: [{ name: "db.weave.local.", ipv4: ["10.32.0.2"], ipv6: [] }],
      },
    );
    assert.equal(parseDnsRecordSet('{"entries":[{"name":"x","ipv4":[1],"ipv6":[]}]}'), undefined);
    // The network scope and membership travel with the records (DNS isolation across hosts).
    const scoped = { name: "db.weave.local.", ipv4: ["10.32.0.2"], ipv6: [], scope: "n1", member: true };
    assert.deepEqual(parseDnsRecordSet(JSON.stringify({ entries: [scoped] })), { entries: [scoped] });
    assert.equal(parseDnsRecordSet('{"entries":[{"name":"x","ipv4":[],"ipv6":[],"scope":7}]}'), undefined);
  });
});
