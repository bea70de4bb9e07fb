/**
 * Programs this host's VXLAN devices from the cluster view: one device per local network that is
 * in the cluster, flooding to the peers that have endpoints on it, and a static FDB and neighbour
 * entry per remote endpoint. Entries of peers whose registration is gone (lease expired) are left
 * out, so they disappear everywhere within a second of the expiry. Changes are coalesced (a burst
 * of watch events costs one reconcile) and a full reconcile also runs periodically, which repairs
 * devices or entries removed behind weave's back.
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, Reconciler } from "../core/index.js";
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
  clock?: Clock | undefined;
}

/** Time before a failed reconcile is retried (ms). */
const RETRY_MS = 1_000;

export class OverlaySync {
  private readonly loop: Reconciler;
  lastError = "";

  constructor(private readonly o: OverlaySyncOptions) {
    this.loop = new Reconciler({
      pass: () => this.run(),
      onError: (err) => {
        this.lastError = errorMessage(err);
        o.logger.warning("programming the overlay failed; retrying", { error: this.lastError });
      },
      coalesceMs: o.coalesceMs ?? 20,
      intervalMs: o.intervalMs ?? 10_000,
      backoff: { minMs: RETRY_MS, maxMs: RETRY_MS },
      clock: o.clock,
    });
  }

  /** Reconciles at once, then every `intervalMs`. */
  start(): void {
    this.loop.start();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  /** Schedules a reconcile (coalescing changes that come in a burst). */
  kick(): void {
    this.loop.kick();
  }

  /** Reconciles now, after the reconcile under way if any (tests). */
  runNow(): Promise<void> {
    return this.loop.flush();
  }

  private async run(): Promise<void> {
    const inputs = this.o.inputs();
    if (!inputs) return;
    const report = await this.o.overlay.reconcile(desiredOverlay(inputs));
    if (report.applied.length > 0) this.o.logger.debug("overlay programmed", { applied: report.applied });
    this.lastError = "";
  }
}
