/**
 * Programs this host's VXLAN devices from the cluster view: one device per local network that is
 * in the cluster, flooding to the peers that have endpoints on it, and a static FDB and neighbour
 * entry per remote endpoint. Entries of peers whose registration is gone (lease expired) are left
 * out, so they disappear everywhere within a second of the expiry. Changes are coalesced (a burst
 * of watch events costs one reconcile) and a full reconcile also runs periodically, which repairs
 * devices or entries removed behind weave's back.
 */
import type { Logger } from "../core/index.js";
import { errorMessage } from "../core/index.js";
import type { OverlayDataplane, OverlayNetwork, RemoteEndpoint } from "../dataplane/index.js";
import { vxlanName } from "../dataplane/index.js";
import { clusterIdOf } from "../store/index.js";
import type { NetworkRecord } from "../store/index.js";
import type { ClusterNetwork, PeerRecord } from "./records.js";
import type { RemoteEndpointView } from "./view.js";

export interface OverlayInputs {
  host: string;
  local: string;
  port: number;
  networks: readonly NetworkRecord[];
  cluster: readonly ClusterNetwork[];
  peers: readonly PeerRecord[];
  endpoints: readonly RemoteEndpointView[];
}

/** The VXLAN devices and entries this host should have. Pure. */
export function desiredOverlay(i: OverlayInputs): OverlayNetwork[] {
  const vniOf = new Map(i.cluster.map((n) => [n.clusterId, n.vni]));
  const peerAddress = new Map(i.peers.filter((p) => p.name !== i.host).map((p) => [p.name, p.address]));
  const out: OverlayNetwork[] = [];
  for (const n of i.networks) {
    const clusterId = clusterIdOf(n);
    const vni = clusterId ? vniOf.get(clusterId) : undefined;
    if (!clusterId || vni === undefined) continue;
    const endpoints: RemoteEndpoint[] = [];
    const flood = new Set<string>();
    for (const ep of i.endpoints) {
      if (ep.clusterId !== clusterId || ep.host === i.host) continue;
      const peer = peerAddress.get(ep.host);
      if (!peer) continue;
      flood.add(peer);
      const remote: RemoteEndpoint = { mac: ep.mac, peer };
      if (ep.ipv4) remote.ipv4 = ep.ipv4.split("/")[0] ?? "";
      if (ep.ipv6) remote.ipv6 = ep.ipv6.split("/")[0] ?? "";
      endpoints.push(remote);
    }
    out.push({
      spec: { name: vxlanName(vni), vni, port: i.port, local: i.local, mtu: n.mtu, bridge: n.bridge },
      floodPeers: [...flood].sort(),
      endpoints,
    });
  }
  return out;
}

export interface OverlaySyncOptions {
  overlay: OverlayDataplane;
  inputs: () => OverlayInputs | undefined;
  logger: Logger;
  /** Delay that coalesces bursts of changes (ms). */
  coalesceMs?: number;
  intervalMs?: number;
}

export class OverlaySync {
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  lastError = "";

  constructor(private readonly o: OverlaySyncOptions) {}

  start(): void {
    const every = this.o.intervalMs ?? 10_000;
    this.periodic = setInterval(() => this.kick(0), every);
    this.periodic.unref();
    this.kick(0);
  }

  close(): Promise<void> | undefined {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.periodic) clearInterval(this.periodic);
    return this.running;
  }

  /** Schedules a reconcile (coalescing changes that come in a burst). */
  kick(delayMs = this.o.coalesceMs ?? 20): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) {
        this.again = true;
        return;
      }
      this.running = this.run().finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick(0);
        }
      });
    }, delayMs);
  }

  /** Reconciles now (tests). */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    await this.run();
  }

  private async run(): Promise<void> {
    const inputs = this.o.inputs();
    if (!inputs) return;
    try {
      const report = await this.o.overlay.reconcile(desiredOverlay(inputs));
      if (report.applied.length > 0) this.o.logger.debug("overlay programmed", { applied: report.applied });
      this.lastError = "";
    } catch (err) {
      this.lastError = errorMessage(err);
      this.o.logger.warning("programming the overlay failed; retrying", { error: this.lastError });
      setTimeout(() => this.kick(0), 1_000).unref();
    }
  }
}
