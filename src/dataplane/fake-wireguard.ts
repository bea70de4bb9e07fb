/**
 * An in-memory WireguardDataplane for unit tests. It keeps a small model of the machine's WireGuard
 * devices, plans with the same pure planner as WireguardDevice, applies the plan to the model with
 * the real tools' semantics (`wg syncconf` keeps the sessions of unchanged peers), and records the
 * commands the real adapter would run as text (`ip link add wvg0a1b2c3d type wireguard`,
 * `wg syncconf wvg0a1b2c3d /dev/stdin`, ...).
 */
import { CommandRecorder } from "./fake-commands.js";
import {
  normalizeAllowedIp,
  normalizeEndpoint,
  peerStates,
  renderWireguardConfig,
} from "./wireguard-config.js";
import type { DumpPeer } from "./wireguard-config.js";
import {
  describeWireguardOp,
  isWireguardConfigOp,
  kernelCreateArgv,
  wireguardGoArgv,
  wireguardOpArgv,
  wireguardPlan,
} from "./wireguard-planner.js";
import type { ObservedWireguard } from "./wireguard-planner.js";
import type {
  WireguardDataplane,
  WireguardImplementation,
  WireguardPeerState,
  WireguardSpec,
} from "./wireguard-types.js";
import type { ReconcileReport } from "./types.js";

/** One device of the fake machine. */
export interface FakeWireguardDevice {
  name: string;
  /** "wireguard" (kernel), "tun" (wireguard-go), or another link kind squatting the name. */
  kind: string;
  /** False for a wireguard-go device whose process no longer answers. */
  answers: boolean;
  privateKey?: string;
  listenPort: number;
  peers: DumpPeer[];
  addresses: string[];
  mtu: number;
  up: boolean;
}

/** In-memory implementation of the WireguardDataplane port that records its commands. */
export class FakeWireguard extends CommandRecorder implements WireguardDataplane {
  /** The fake machine's devices by name (weave's and others). */
  readonly devices = new Map<string, FakeWireguardDevice>();
  /** The configuration text of the last `wg syncconf` (holds secrets: for tests only). */
  lastConfig: string | undefined;
  private readonly machine: WireguardImplementation;
  private name: string | undefined;
  private impl: WireguardImplementation | undefined;

  /** `implementation`: what this fake machine creates (default: the kernel's). */
  constructor(options: { implementation?: WireguardImplementation } = {}) {
    super();
    this.machine = options.implementation ?? "kernel";
  }

  get implementation(): WireguardImplementation | undefined {
    return this.impl;
  }

  /** Sets the latest handshake (ms since the epoch) the device reports for peer `publicKey`. */
  setHandshake(publicKey: string, ms: number): void {
    for (const d of this.devices.values()) {
      for (const p of d.peers) if (p.publicKey === publicKey) p.latestHandshake = Math.floor(ms / 1000);
    }
  }

  /** The model as the real adapter would observe it for device `name`. */
  observe(name: string | undefined): ObservedWireguard {
    const links = [...this.devices.values()].map((d) => ({
      name: d.name,
      kind: d.kind,
      mtu: d.mtu,
      up: d.up,
    }));
    const d = name === undefined ? undefined : this.devices.get(name);
    if (!d) return { links, addresses: [] };
    const { privateKey, listenPort, peers } = d;
    const dump = {
      ...(privateKey !== undefined ? { privateKey } : {}),
      listenPort,
      peers: peers.map((p) => ({ ...p })),
    };
    return { links, ...(d.answers ? { dump } : {}), addresses: [...d.addresses] };
  }

  async reconcile(spec: WireguardSpec | undefined): Promise<ReconcileReport> {
    const ops = wireguardPlan(spec)(this.observe(spec?.name));
    let synced = false;
    for (const op of ops) {
      const name = op.name;
      if (op.op === "create-device") {
        const argv = this.machine === "kernel" ? kernelCreateArgv(name) : wireguardGoArgv(name);
        this.run(argv.join(" "));
        const kind = this.machine === "kernel" ? "wireguard" : "tun";
        this.devices.set(name, {
          name,
          kind,
          answers: true,
          listenPort: 0,
          peers: [],
          addresses: [],
          mtu: 1420,
          up: false,
        });
        continue;
      }
      if (isWireguardConfigOp(op)) {
        if (synced || spec === undefined) continue;
        this.run(wireguardOpArgv(op).join(" "));
        this.syncconf(spec);
        synced = true;
        continue;
      }
      this.run(wireguardOpArgv(op).join(" "));
      const d = this.devices.get(name);
      if (op.op === "delete-device") this.devices.delete(name);
      else if (d && op.op === "add-address") d.addresses.push(op.address);
      else if (d && op.op === "del-address") d.addresses = d.addresses.filter((a) => a !== op.address);
      else if (d && op.op === "set-link") Object.assign(d, { mtu: op.mtu, up: true });
    }
    this.name = spec?.name;
    const kind = spec ? this.devices.get(spec.name)?.kind : undefined;
    this.impl = kind === undefined ? undefined : kind === "wireguard" ? "kernel" : "wireguard-go";
    return { applied: ops.map(describeWireguardOp) };
  }

  async peers(): Promise<WireguardPeerState[]> {
    const d = this.name === undefined ? undefined : this.devices.get(this.name);
    return d?.answers ? peerStates({ listenPort: d.listenPort, peers: d.peers }) : [];
  }

  /** `wg syncconf`: the device gets the key, port and peers; unchanged peers keep their state. */
  private syncconf(spec: WireguardSpec): void {
    const d = this.devices.get(spec.name);
    if (!d) return;
    this.lastConfig = renderWireguardConfig(spec);
    d.privateKey = spec.privateKey;
    d.listenPort = spec.listenPort;
    const old = new Map(d.peers.map((p) => [p.publicKey, p]));
    d.peers = spec.peers.map((p) => ({
      latestHandshake: 0,
      rxBytes: 0,
      txBytes: 0,
      ...old.get(p.publicKey),
      publicKey: p.publicKey,
      presharedKey: p.presharedKey,
      endpoint: normalizeEndpoint(p.endpoint),
      allowedIps: p.allowedIps.map(normalizeAllowedIp),
      persistentKeepalive: p.persistentKeepalive ?? 0,
    }));
  }
}
