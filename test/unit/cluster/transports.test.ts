/** The transport seam: the neutral view, the path to each peer, and each transport's plan from them. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { choosePaths, transportOverhead, usablePaths } from "../../../src/cluster/paths.js";
import type { PathOptions } from "../../../src/cluster/paths.js";
import { withPaths } from "../../../src/cluster/peer-paths.js";
import type { PeerStatus } from "../../../src/cluster/peers.js";
import type { PeerRecord } from "../../../src/cluster/records.js";
import { endpointKey } from "../../../src/cluster/records.js";
import { transportView } from "../../../src/cluster/transport-view.js";
import type { TransportInput } from "../../../src/cluster/transports/transport.js";
import { routedNetworks } from "../../../src/cluster/transports/routed.js";
import { vxlanNetworks } from "../../../src/cluster/transports/vxlan.js";
import { KEEPALIVE_S, wireguardSpec } from "../../../src/cluster/transports/wireguard.js";
import type { NetworkRecord } from "../../../src/store/index.js";
import { HANDSHAKES_STALE_MS, WireguardLayer } from "../../../src/cluster/wireguard-layer.js";
import { FakeWireguard } from "../../../src/dataplane/index.js";
import { MemoryKeyStore } from "../../helpers/transport-fakes.js";

const TUNNEL = { a: "fd77:6561:7665:0:1::1", b: "fd77:6561:7665:0:2::2", c: "fd77:6561:7665:0:3::3" };

function peer(name: "a" | "b" | "c" | "d", address: string, encrypted = false): PeerRecord {
  return {
    name,
    address,
    vxlanPort: 4789,
    version: "x",
    startedAt: 0,
    seenAt: 0,
    ...(encrypted && name !== "d"
      ? { wireguard: { publicKey: `key-${name}`, port: 51820, tunnel: TUNNEL[name], check: `ok-${name}` } }
      : {}),
  };
}

const network: NetworkRecord = {
  id: "N1",
  bridge: "weave",
  mtu: 1350,
  internal: false,
  ipv4: [{ Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }],
  ipv6: [{ Pool: "fd00:1::/64" }],
  options: { "weave.cluster.id": "c1" },
  createdAt: 0,
};

const ep = (host: string, n: number, ipv6 = "") => ({
  host,
  clusterId: "c1",
  key: endpointKey(host, "c1", `e${n}`),
  mac: `02:42:0a:20:00:${n.toString(16).padStart(2, "0")}`,
  ipv4: `10.32.0.${n}/24`,
  ipv6,
});

/** Host a (192.168.1.1/24) with b on its segment and c behind a router. */
function view(encrypted = false) {
  return transportView({
    host: "a",
    networks: [network],
    cluster: [
      {
        clusterId: "c1",
        name: "weave",
        vni: 4096,
        ipv4: [],
        ipv6: [],
        internal: false,
        options: {},
        host: "a",
        createdAt: 0,
      },
    ],
    peers: [
      peer("a", "192.168.1.1", encrypted),
      peer("b", "192.168.1.2", encrypted),
      peer("c", "192.168.2.3", encrypted),
    ],
    endpoints: [ep("a", 2), ep("b", 18, "fd00:1::12/64"), ep("c", 35), ep("gone", 50)],
  });
}

const AUTO: PathOptions = { mode: "auto", attached: ["192.168.1.0/24", "10.0.9.0/24"], underlayMtu: 1400 };

void describe("transportView", () => {
  void it("lists each cluster network's remote containers with their peer, without unregistered peers", () => {
    const v = view();
    assert.deepEqual(
      v.peers.map((p) => p.name),
      ["b", "c"],
    );
    assert.deepEqual(v.networks, [
      {
        clusterId: "c1",
        vni: 4096,
        bridge: "weave",
        mtu: 1350,
        subnets: ["10.32.0.0/24", "fd00:1::/64"],
        remotes: [
          { peer: "b", mac: "02:42:0a:20:00:12", ipv4: "10.32.0.18", ipv6: "fd00:1::12" },
          { peer: "c", mac: "02:42:0a:20:00:23", ipv4: "10.32.0.35" },
        ],
        peers: ["b", "c"],
      },
    ]);
  });
});

void describe("choosePaths", () => {
  void it("auto: routed to a peer on an attached subnet, VXLAN to the others, with each path's MTU", () => {
    const paths = choosePaths(view().peers, AUTO);
    assert.deepEqual(
      paths.map((p) => [p.peer, p.transport, p.encryption, p.nextHop, p.mtu]),
      [
        ["b", "routed", "none", "192.168.1.2", 1400],
        ["c", "vxlan", "none", "192.168.2.3", 1350],
      ],
    );
  });

  void it("vxlan and routed force one transport for every peer", () => {
    for (const mode of ["vxlan", "routed"] as const) {
      const paths = choosePaths(view().peers, { ...AUTO, mode });
      assert.deepEqual(
        paths.map((p) => p.transport),
        [mode, mode],
      );
    }
  });

  void it("encrypted: VXLAN goes to the tunnel address; overheads add up", () => {
    const verify = (p: PeerRecord) => p.wireguard?.check === `ok-${p.name}`;
    const paths = choosePaths(view(true).peers, { ...AUTO, verify });
    assert.deepEqual(
      paths.map((p) => [p.peer, p.transport, p.encryption, p.nextHop, p.mtu, p.problem]),
      [
        ["b", "routed", "wireguard", "192.168.1.2", 1340, ""],
        ["c", "vxlan", "wireguard", TUNNEL.c, 1270, ""],
      ],
    );
    assert.equal(transportOverhead("auto", true), 130);
    assert.equal(transportOverhead("routed", true), 60);
    assert.equal(transportOverhead("routed", false), 0);
    assert.equal(transportOverhead("vxlan", false), 50);
  });

  void it("a peer without a password, with another password, or encrypting when this host does not, is a mismatch", () => {
    const peers = [peer("b", "192.168.1.2", true), peer("d", "192.168.1.4", true)];
    peers[0] = { ...peers[0]!, wireguard: { ...peers[0]!.wireguard!, check: "forged" } };
    const verify = (p: PeerRecord) => p.wireguard?.check === `ok-${p.name}`;
    const encrypted = choosePaths(peers, { ...AUTO, verify });
    assert.deepEqual(
      encrypted.map((p) => [p.peer, p.encryption, p.problem]),
      [
        ["b", "mismatch", "encryption mismatch: the peer uses another password"],
        ["d", "mismatch", "encryption mismatch: the peer has no password"],
      ],
    );
    assert.deepEqual(usablePaths(encrypted), []);
    const plain = choosePaths([peer("b", "192.168.1.2", true)], AUTO);
    assert.equal(plain[0]?.problem, "encryption mismatch: the peer encrypts and this host has no password");
  });
});

function input(encrypted = false, mode: PathOptions["mode"] = "auto"): TransportInput {
  const v = view(encrypted);
  const verify = () => true;
  const paths = usablePaths(choosePaths(v.peers, { ...AUTO, mode, ...(encrypted ? { verify } : {}) }));
  return {
    view: v,
    paths,
    local: "192.168.1.1",
    ...(encrypted ? { tunnel: { device: "wvg00000001", address: TUNNEL.a } } : {}),
  };
}

void describe("transport plans", () => {
  void it("VXLAN carries the VXLAN peers' containers and the routed peers' broadcast; routed their unicast", () => {
    const [vx] = vxlanNetworks(input(), 4789);
    // Routed peers get broadcast and multicast, and FDB entries, but no neighbour entry: unicast
    // goes by routing. Their IPv6 over an IPv4 underlay goes by VXLAN (the kernel cannot route it).
    assert.deepEqual(vx?.floodPeers, ["192.168.1.2", "192.168.2.3"]);
    assert.deepEqual(vx?.endpoints, [
      { mac: "02:42:0a:20:00:12", peer: "192.168.1.2", ipv6: "fd00:1::12" },
      { mac: "02:42:0a:20:00:23", peer: "192.168.2.3", ipv4: "10.32.0.35" },
    ]);
    assert.deepEqual(routedNetworks(input()), [
      { bridge: "weave", remotes: [{ ip: "10.32.0.18", via: "192.168.1.2" }] },
    ]);
  });

  void it("with --transport vxlan nothing is routed, and every network keeps its bridge in the routed plan", () => {
    assert.deepEqual(routedNetworks(input(false, "vxlan")), [{ bridge: "weave", remotes: [] }]);
    assert.equal(vxlanNetworks(input(false, "vxlan"), 4789)[0]?.endpoints.length, 2);
  });

  void it("encrypted: VXLAN between tunnel addresses, routes into the WireGuard device", () => {
    const [vx] = vxlanNetworks(input(true), 4789);
    assert.equal(vx?.spec.local, TUNNEL.a);
    assert.deepEqual(vx?.floodPeers, [TUNNEL.b, TUNNEL.c]);
    assert.deepEqual(
      vx?.endpoints[0],
      { mac: "02:42:0a:20:00:12", peer: TUNNEL.b },
      "IPv6 is routed in the tunnel",
    );
    assert.deepEqual(routedNetworks(input(true))[0]?.remotes, [
      { ip: "10.32.0.18", dev: "wvg00000001" },
      { ip: "fd00:1::12", dev: "wvg00000001" },
    ]);
  });

  void it("WireGuard: one peer per encrypting peer; allowed IPs are its tunnel address and its routed containers", () => {
    const spec = wireguardSpec(input(true), {
      device: "wvg00000001",
      port: 51820,
      tunnel: TUNNEL.a,
      privateKey: "priv",
      presharedKey: "psk",
      mtu: 1340,
    });
    assert.deepEqual(spec, {
      name: "wvg00000001",
      privateKey: "priv",
      listenPort: 51820,
      address: `${TUNNEL.a}/64`,
      mtu: 1340,
      peers: [
        {
          publicKey: "key-b",
          presharedKey: "psk",
          endpoint: "192.168.1.2:51820",
          allowedIps: [`${TUNNEL.b}/128`, "10.32.0.18/32", "fd00:1::12/128"],
          persistentKeepalive: KEEPALIVE_S,
        },
        {
          publicKey: "key-c",
          presharedKey: "psk",
          endpoint: "192.168.2.3:51820",
          allowedIps: [`${TUNNEL.c}/128`],
          persistentKeepalive: KEEPALIVE_S,
        },
      ],
    });
  });
});

void describe("withPaths", () => {
  const status = (name: string, state: PeerStatus["state"]): PeerStatus => ({
    name,
    address: "x",
    state,
    lastSeen: 0,
    version: "x",
    transport: null,
    encryption: null,
    mtu: null,
    handshakeAgeS: null,
    up: false,
    problem: "",
  });

  void it("adds the transport, encryption, MTU (at most the containers'), handshake age and up-ness", () => {
    const paths = choosePaths(view(true).peers, { ...AUTO, verify: (p) => p.name === "b" });
    const ages: Record<string, number | null> = { "key-b": 12 };
    const out = withPaths(
      [status("a", "self"), status("b", "alive"), status("c", "alive"), status("z", "gone")],
      {
        paths,
        programmed: true,
        containerMtu: 1270,
        encryption: { handshakeAgeS: (k) => ages[k] ?? null },
        records: view(true).peers,
      },
    );
    assert.deepEqual(
      out.map((p) => [p.name, p.transport, p.encryption, p.mtu, p.handshakeAgeS, p.up, p.problem]),
      [
        ["a", null, null, null, null, true, ""],
        ["b", "routed", "wireguard", 1270, 12, true, ""],
        ["c", "vxlan", "mismatch", 1270, null, false, "encryption mismatch: the peer uses another password"],
        ["z", null, null, null, null, false, ""],
      ],
    );
  });

  void it("an encrypted path without a recent handshake is down", () => {
    const paths = choosePaths([peer("b", "192.168.1.2", true)], { ...AUTO, verify: () => true });
    const [, b] = withPaths([status("a", "self"), status("b", "alive")], {
      paths,
      programmed: true,
      containerMtu: 1400,
      encryption: { handshakeAgeS: () => 400 },
      records: [peer("b", "192.168.1.2", true)],
    });
    assert.equal(b?.up, false);
    assert.equal(b?.mtu, 1340);
  });
});

void describe("WireguardLayer's handshake times", () => {
  void it("reads them after a pass, and again when the status asks and they are stale: traffic alone shows", async () => {
    let now = 1_700_000_000_000;
    const key = (n: number) => Buffer.alloc(32, n).toString("base64");
    const KEY: Record<string, string> = { b: key(1), c: key(2) };
    const given = input(true);
    const withKeys: TransportInput = {
      ...given,
      view: {
        ...given.view,
        peers: given.view.peers.map((p) =>
          p.wireguard ? { ...p, wireguard: { ...p.wireguard, publicKey: KEY[p.name] ?? "" } } : p,
        ),
      },
    };
    const dataplane = new FakeWireguard();
    let reads = 0;
    const peers = dataplane.peers.bind(dataplane);
    dataplane.peers = () => (reads++, peers());
    const layer = new WireguardLayer({
      dataplane,
      keys: new MemoryKeyStore(),
      presharedKey: key(9),
      device: "wvg00000001",
      port: 51820,
      tunnel: TUNNEL.a,
      mtu: 1340,
      now: () => now,
    });
    await layer.apply(withKeys, { full: true });
    assert.equal(reads, 1, "read after the pass");
    assert.equal(layer.handshakeAgeS(KEY["b"] ?? ""), null, "no handshake yet");
    // A handshake made by traffic: no pass runs.
    dataplane.setHandshake(KEY["b"] ?? "", now - 3_000);
    assert.equal(layer.handshakeAgeS(KEY["b"] ?? ""), null, "not stale yet: not read again");
    assert.equal(reads, 1);
    now += HANDSHAKES_STALE_MS + 1;
    assert.equal(
      layer.handshakeAgeS(KEY["b"] ?? ""),
      null,
      "stale: answers what it has, reads for the next call",
    );
    assert.equal(layer.handshakeAgeS(KEY["c"] ?? ""), null);
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 2, "one read for both calls");
    assert.equal(layer.handshakeAgeS(KEY["b"] ?? ""), 5);
    assert.equal(layer.handshakeAgeS(KEY["c"] ?? ""), null);
  });
});
