/**
 * The transports of a Cluster over fakes: FakeOverlay, FakeRouted and FakeWireguard, in the order the
 * composition runs them, and a key store in memory. Tests pick the transport mode; "vxlan" is what
 * every peer used before transports could be chosen.
 */
import type { KeyStore, TransportChoice, TransportMode, WireguardKeys } from "../../src/cluster/index.js";
import {
  generateKeyPair,
  noWireguard,
  routedTransport,
  tunnelAddress,
  vxlanTransport,
  wireguardDeviceName,
  WireguardLayer,
} from "../../src/cluster/index.js";
import { FakeOverlay, FakeRouted, FakeWireguard } from "../../src/dataplane/index.js";

/** A key pair that lives in memory; rotate() makes a new one. */
export class MemoryKeyStore implements KeyStore {
  private keys: WireguardKeys = generateKeyPair();
  rotations = 0;

  load(): WireguardKeys {
    return this.keys;
  }

  rotate(): WireguardKeys {
    this.keys = generateKeyPair();
    this.rotations++;
    return this.keys;
  }
}

export function fakeTransports(
  o: {
    mode?: TransportMode;
    attached?: string[];
    vxlanPort?: number;
    /** Encrypt with this preshared key, as `name` (the WireGuard device and tunnel address follow). */
    encryption?: { presharedKey: string; name: string };
  } = {},
) {
  const overlay = new FakeOverlay();
  const routed = new FakeRouted();
  const wireguard = new FakeWireguard();
  const keys = new MemoryKeyStore();
  const e = o.encryption;
  const encryption =
    e &&
    new WireguardLayer({
      dataplane: wireguard,
      keys,
      presharedKey: e.presharedKey,
      device: wireguardDeviceName(e.name),
      port: 51820,
      tunnel: tunnelAddress(e.name),
      mtu: 1340,
      now: () => Date.now(),
    });
  const transport: TransportChoice = {
    mode: o.mode ?? "vxlan",
    attached: o.attached ?? [],
    underlayMtu: 1400,
  };
  return {
    overlay,
    routed,
    wireguard,
    transport,
    keys,
    encryption,
    transports: [
      encryption ?? noWireguard(wireguard),
      vxlanTransport(overlay, o.vxlanPort ?? 4789),
      routedTransport(routed),
    ],
    containerMtu: 1350,
  };
}
