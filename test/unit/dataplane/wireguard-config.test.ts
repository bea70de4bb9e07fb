import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import {
  isWeaveWireguardName,
  isWireguardKey,
  normalizeEndpoint,
  parseWireguardDump,
  peerStates,
  renderWireguardConfig,
  validateWireguardSpec,
} from "../../../src/dataplane/index.js";
import type { WireguardSpec } from "../../../src/dataplane/index.js";
import { key, sampleSpec } from "../../helpers/wireguard.js";

void describe("WireGuard names and keys", () => {
  void it("owns wvg + 8 lower-case hex digits only", () => {
    assert.equal(isWeaveWireguardName("wvg0a1b2c3d"), true);
    for (const n of ["wvg0A1B2C3D", "wvg0a1b2c3", "wvg0a1b2c3d4", "wg0", "vxw4096"]) {
      assert.equal(isWeaveWireguardName(n), false, n);
    }
  });

  void it("accepts base64 of exactly 32 bytes", () => {
    assert.equal(isWireguardKey(key(7)), true);
    assert.equal(isWireguardKey(Buffer.alloc(31).toString("base64")), false);
    assert.equal(isWireguardKey(key(7).slice(0, 42) + "B="), false); // non-zero padding bits
    assert.equal(isWireguardKey(key(7) + "\n"), false);
  });

  void it("normalizes endpoints and rejects host names and bad ports", () => {
    assert.equal(normalizeEndpoint("[FD00:0::9]:51821"), "[fd00::9]:51821");
    assert.equal(normalizeEndpoint("10.0.0.1:1"), "10.0.0.1:1");
    for (const bad of [
      "host:51820",
      "10.0.0.1",
      "fd00::9:51820",
      "[10.0.0.1]:1",
      "10.0.0.1:0",
      "10.0.0.1:65536",
    ]) {
      assert.throws(
        () => normalizeEndpoint(bad),
        (e) => isWeaveError(e, "WEAVE_BAD_REQUEST"),
        bad,
      );
    }
  });
});

void describe("validateWireguardSpec", () => {
  void it("accepts a good spec", () => {
    validateWireguardSpec(sampleSpec());
  });

  const cases: [string, (s: WireguardSpec) => void, RegExp][] = [
    ["name", (s) => (s.name = "wg0"), /device name "wg0"/],
    ["private key", (s) => (s.privateKey = "secret"), /Invalid private key: expected/],
    ["port", (s) => (s.listenPort = 0), /WireGuard port 0/],
    ["address", (s) => (s.address = "fd77::1"), /Invalid address "fd77::1"/],
    ["mtu", (s) => (s.mtu = 10), /MTU 10/],
    ["peer key", (s) => (s.peers[0]!.publicKey = "x"), /public key of peer 0/],
    ["psk", (s) => (s.peers[1]!.presharedKey = "x"), /preshared key of peer 1/],
    ["endpoint", (s) => (s.peers[0]!.endpoint = "a:1"), /endpoint "a:1"/],
    ["host bits", (s) => (s.peers[0]!.allowedIps = ["10.32.1.1/24"]), /host bits/],
    ["keepalive", (s) => (s.peers[0]!.persistentKeepalive = -1), /persistent keepalive -1/],
    ["same key twice", (s) => (s.peers[1]!.publicKey = s.peers[0]!.publicKey), /listed twice/],
    ["same IP twice", (s) => (s.peers[1]!.allowedIps = ["10.32.1.0/24"]), /claimed by peers/],
  ];
  for (const [what, change, message] of cases) {
    void it(`rejects a bad ${what} with WEAVE_BAD_REQUEST`, () => {
      const spec = sampleSpec();
      change(spec);
      assert.throws(
        () => validateWireguardSpec(spec),
        (e) => isWeaveError(e, "WEAVE_BAD_REQUEST") && message.test(e.message),
      );
    });
  }

  void it("never quotes a secret", () => {
    const spec = sampleSpec();
    spec.privateKey = "my-secret-value";
    assert.throws(
      () => validateWireguardSpec(spec),
      (e) => !(e as Error).message.includes("my-secret"),
    );
  });
});

void describe("renderWireguardConfig", () => {
  void it("renders the interface and every peer in canonical form", () => {
    assert.equal(
      renderWireguardConfig(sampleSpec()),
      [
        "[Interface]",
        `PrivateKey = ${key(1)}`,
        "ListenPort = 51820",
        "",
        "[Peer]",
        `PublicKey = ${key(2)}`,
        `PresharedKey = ${key(3)}`,
        "Endpoint = 192.168.1.2:51820",
        "AllowedIPs = fd77:6561:7665:0:5:6:7:8/128, 10.32.1.0/24",
        "PersistentKeepalive = 25",
        "",
        "[Peer]",
        `PublicKey = ${key(4)}`,
        `PresharedKey = ${key(3)}`,
        "Endpoint = [fd00::9]:51821",
        "",
      ].join("\n"),
    );
  });
});

const DUMP = [
  [key(1), key(9), "51820", "off"],
  [
    key(2),
    key(3),
    "192.168.1.2:51820",
    "fd77:6561:7665:0:5:6:7:8/128,10.32.1.0/24",
    "1700000000",
    "1234",
    "5678",
    "25",
  ],
  [key(4), "(none)", "(none)", "(none)", "0", "0", "0", "off"],
]
  .map((l) => l.join("\t"))
  .join("\n");

void describe("parseWireguardDump", () => {
  void it("reads the interface line and the peers", () => {
    assert.deepEqual(parseWireguardDump(DUMP + "\n"), {
      privateKey: key(1),
      listenPort: 51820,
      peers: [
        {
          publicKey: key(2),
          presharedKey: key(3),
          endpoint: "192.168.1.2:51820",
          allowedIps: ["fd77:6561:7665:0:5:6:7:8/128", "10.32.1.0/24"],
          latestHandshake: 1700000000,
          rxBytes: 1234,
          txBytes: 5678,
          persistentKeepalive: 25,
        },
        {
          publicKey: key(4),
          allowedIps: [],
          latestHandshake: 0,
          rxBytes: 0,
          txBytes: 0,
          persistentKeepalive: 0,
        },
      ],
    });
  });

  void it("reads a new device without a key", () => {
    assert.deepEqual(parseWireguardDump("(none)\t(none)\t35177\toff\n"), { listenPort: 35177, peers: [] });
  });

  void it("reports peers with the handshake in milliseconds", () => {
    assert.deepEqual(peerStates(parseWireguardDump(DUMP)), [
      {
        publicKey: key(2),
        latestHandshake: 1700000000000,
        rxBytes: 1234,
        txBytes: 5678,
        endpoint: "192.168.1.2:51820",
      },
      { publicKey: key(4), latestHandshake: 0, rxBytes: 0, txBytes: 0 },
    ]);
  });

  void it("rejects malformed output with WEAVE_DATAPLANE", () => {
    for (const bad of ["", "a\tb", DUMP + "\nx\ty", DUMP.replace("1234", "12x")]) {
      assert.throws(
        () => parseWireguardDump(bad),
        (e) => isWeaveError(e, "WEAVE_DATAPLANE"),
        bad,
      );
    }
  });
});
