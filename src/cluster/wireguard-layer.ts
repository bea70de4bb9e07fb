/**
 * This host's encryption: its WireGuard identity (key pair kept in the state directory, the
 * preshared key the password yields, the tunnel address), what it publishes in its peer record, how
 * it checks a peer's record, `weave rotate-key`, and the WireGuard layer that runs first among the
 * transports. The handshake times the device reports are read after every pass, for the status,
 * and again when the status reads them and they are older than HANDSHAKES_STALE_MS.
 */
import type { WireguardDataplane } from "../dataplane/index.js";
import type { PeerRecord, PeerWireguard } from "./records.js";
import { peerCheck, verifyPeerCheck } from "./encryption.js";
import type { Transport, TransportInput, TransportPass, TunnelSelf } from "./transports/transport.js";
import { wireguardSpec } from "./transports/wireguard.js";
import type { ReconcileReport } from "../dataplane/index.js";

export interface WireguardKeys {
  privateKey: string;
  publicKey: string;
}

/** Where the key pair lives (the state directory's key file). */
export interface KeyStore {
  /** The current key pair (made on first use). */
  load(): WireguardKeys;
  /** Makes, keeps and returns a new key pair. */
  rotate(): WireguardKeys;
}

export interface WireguardLayerOptions {
  dataplane: WireguardDataplane;
  keys: KeyStore;
  /** Derived from the password (derivePresharedKey). */
  presharedKey: string;
  device: string;
  port: number;
  /** This host's tunnel address (IPv6, plain). */
  tunnel: string;
  /** The WireGuard device's MTU. */
  mtu: number;
  now: () => number;
}

export interface EncryptionStatus {
  enabled: boolean;
  implementation: string | null;
  interface: string | null;
  publicKey: string | null;
  port: number | null;
}

/**
 * Handshake times older than this are read again when the status asks for one (without waiting: the
 * next read has them). Passes read them too, but a slice pass that changes no peer does not, and
 * full passes may be a minute apart: a handshake made by traffic alone (no change in the store)
 * would stay unseen, and the peer shown down, until then.
 */
export const HANDSHAKES_STALE_MS = 2_000;

export class WireguardLayer implements Transport {
  readonly name = "wireguard";
  private keys: WireguardKeys;
  /** Last handshake (ms) by peer public key, as read after the last pass. */
  private handshakes = new Map<string, number>();
  /** When `handshakes` was read (0: never). */
  private handshakesAt = 0;
  private reading: Promise<void> | undefined;

  constructor(private readonly o: WireguardLayerOptions) {
    this.keys = o.keys.load();
  }

  /** What this host publishes in its peer record. */
  record(): PeerWireguard {
    const { publicKey } = this.keys;
    return {
      publicKey,
      port: this.o.port,
      tunnel: this.o.tunnel,
      check: peerCheck(this.o.presharedKey, publicKey),
    };
  }

  /** True when the peer's record proves the same password. */
  verify(peer: PeerRecord): boolean {
    const wg = peer.wireguard;
    return wg !== undefined && verifyPeerCheck(this.o.presharedKey, wg.publicKey, wg.check);
  }

  tunnelSelf(): TunnelSelf {
    return { device: this.o.device, address: this.o.tunnel };
  }

  /** `weave rotate-key`: a new key pair, kept; the caller publishes it and programs the device. */
  rotate(): string {
    this.keys = this.o.keys.rotate();
    return this.keys.publicKey;
  }

  async apply(input: TransportInput, pass?: TransportPass): Promise<ReconcileReport> {
    // Without routed paths (always so in a slice) the device's peers depend on the peers alone.
    if (pass?.slice && !pass.slice.peers) return { applied: [] };
    const { device, port, tunnel, mtu, presharedKey } = this.o;
    const spec = wireguardSpec(input, {
      device,
      port,
      tunnel,
      mtu,
      presharedKey,
      privateKey: this.keys.privateKey,
    });
    const report = await this.o.dataplane.reconcile(spec);
    await this.readHandshakes();
    return report;
  }

  /**
   * Seconds since the last handshake with the peer of `publicKey`; null when there was none. Reads
   * the device again, for the next call, when what it has is older than HANDSHAKES_STALE_MS.
   */
  handshakeAgeS(publicKey: string): number | null {
    if (this.o.now() - this.handshakesAt > HANDSHAKES_STALE_MS && !this.reading)
      this.reading = this.readHandshakes()
        .catch(() => undefined) // the next pass or read tries again; passes report their failures
        .finally(() => (this.reading = undefined));
    const at = this.handshakes.get(publicKey) ?? 0;
    return at > 0 ? Math.max(0, Math.round((this.o.now() - at) / 1000)) : null;
  }

  private async readHandshakes(): Promise<void> {
    const peers = await this.o.dataplane.peers();
    this.handshakes = new Map(peers.map((p) => [p.publicKey, p.latestHandshake]));
    this.handshakesAt = this.o.now();
  }

  status(): EncryptionStatus {
    return {
      enabled: true,
      implementation: this.o.dataplane.implementation ?? null,
      interface: this.o.device,
      publicKey: this.keys.publicKey,
      port: this.o.port,
    };
  }
}

export const ENCRYPTION_OFF: EncryptionStatus = {
  enabled: false,
  implementation: null,
  interface: null,
  publicKey: null,
  port: null,
};
