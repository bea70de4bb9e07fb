/** A valid WireGuard spec with two peers, for the data-plane unit tests. */
import type { WireguardSpec } from "../../src/dataplane/index.js";

/** A base64 WireGuard key made of 32 bytes `n` (not a real key pair: enough for the planner). */
export const key = (n: number): string => Buffer.alloc(32, n).toString("base64");

export function sampleSpec(): WireguardSpec {
  return {
    name: "wvg0a1b2c3d",
    privateKey: key(1),
    listenPort: 51820,
    address: "fd77:6561:7665:0:1:2:3:4/64",
    mtu: 1420,
    peers: [
      {
        publicKey: key(2),
        presharedKey: key(3),
        endpoint: "192.168.1.2:51820",
        allowedIps: ["fd77:6561:7665:0:5:6:7:8/128", "10.32.1.0/24"],
        persistentKeepalive: 25,
      },
      {
        publicKey: key(4),
        presharedKey: key(3),
        endpoint: "[FD00:0::9]:51821",
        allowedIps: [],
      },
    ],
  };
}
