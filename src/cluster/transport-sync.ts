/**
 * Programs this host's transports from the cluster view: on every change it builds the
 * transport-neutral view, chooses the path to each peer, and runs every transport in order (the
 * WireGuard layer first: the others send into it). Containers of peers whose registration is gone
 * (lease expired) are left out, so their entries disappear everywhere within a second of the
 * expiry. Changes are coalesced (a burst of watch events costs one pass) and a whole pass also runs
 * periodically, which repairs what was removed behind weave's back. The paths of the last pass are
 * kept for `weave status peers` and the metrics.
 *
 * Work proportional to the change: a pass that containers' or peers' changes asked for is a slice
 * pass (TransportSlice): the endpoints that changed are looked up by key (RemoteIndex keeps the
 * cluster's endpoints by key, MAC, address and host), the view holds only the containers they
 * touch, and the transports plan and fold only those entries against the state they remember. A
 * whole pass (the view over every endpoint) runs the first time, after a failure, when a network,
 * the tunnel or a routed path is involved, and at least every interval; only the periodic one has
 * the transports read the kernel (full). Reading the kernel costs seconds at 100,000 entries, so
 * full passes are spaced by at least FULL_PACE x the last one's duration (at most 1 / FULL_PACE of
 * a core).
 *
 * Pacing: change-driven passes are spaced by PACE x the last one's duration, so that under a
 * steady stream of changes whole ones never take more than 1 / (1 + PACE) of a core. After a slice
 * pass the pause is at most SLICE_PACE_MAX_MS: a slice costs in proportion to the changes it
 * carries, so a big one (a host with 100 containers joined) must not hold the next changes back
 * for seconds; the pause still gathers a steady stream into few passes (each costs its processes).
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, realClock, Reconciler } from "../core/index.js";
import type { MirrorChange } from "./mirror.js";
import type { PathOptions, PeerPath } from "./paths.js";
import { choosePaths, usablePaths } from "./paths.js";
import type { PeerRecord } from "./records.js";
import { endpointTags, RemoteIndex } from "./remote-index.js";
import type { RemoteContainer, ViewInputs } from "./transport-view.js";
import { localNetworks, remoteContainer, transportView } from "./transport-view.js";
import type {
  TransportInput,
  TransportPass,
  TransportSlice,
  TunnelSelf,
  Transport,
} from "./transports/transport.js";
import type { RemoteEndpointView } from "./view.js";

export interface TransportSyncOptions {
  /** In order: the first runs first. */
  transports: readonly Transport[];
  /** The cluster's records, undefined until the view is synced. Its `endpoints` are read only on
   * whole passes (the daemon gives a getter). */
  inputs: () => ViewInputs | undefined;
  /** One endpoint by its store key. Without it every pass is a whole one. */
  endpoint?: (key: string) => RemoteEndpointView | undefined;
  /** This host's underlay address. */
  local: string;
  paths: () => PathOptions;
  /** This host's end of the tunnel, when it encrypts. */
  tunnel: () => TunnelSelf | undefined;
  logger: Logger;
  /** Delay that coalesces bursts of changes (ms). */
  coalesceMs?: number;
  intervalMs?: number;
  clock?: Clock | undefined;
}

/** Time before a failed pass is retried (ms). */
const RETRY_MS = 1_000;
/** The pause after a pass, in multiples of its duration (see Pacing above). */
export const PACE = 3;
/** The longest pause after a slice pass (ms). */
export const SLICE_PACE_MAX_MS = 300;
/** The least spacing of full passes, in multiples of the last one's duration. */
export const FULL_PACE = 50;

/** What changed since the last pass. */
interface Dirty {
  /** Something only a whole pass handles (a network, the key, a reset of the endpoints). */
  all: boolean;
  peers: boolean;
  /** The store keys of the endpoints that changed. */
  endpoints: Set<string>;
}

/** What the last pass programmed, that a slice pass starts from. */
interface LastPass {
  peers: PeerRecord[];
  /** The names of `peers`. */
  registered: ReadonlySet<string>;
  paths: PeerPath[];
  /** The usable of `paths` (usablePaths), one array while the paths stay: transports index it once. */
  usable: PeerPath[];
  /** Each peer's record and path, as text. */
  signatures: Map<string, string>;
  tunnel: string;
  networks: string;
}

const dirtyAll = (): Dirty => ({ all: true, peers: true, endpoints: new Set() });

export class TransportSync {
  private readonly loop: Reconciler;
  lastError = "";
  /** The path to each peer as the last pass chose it (all peers, mismatches included). */
  paths: PeerPath[] = [];
  /** True once a pass has programmed every transport without an error. */
  programmed = false;
  /** When start() ran, until the first pass has programmed (then undefined). */
  private startedAt: number | undefined;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  /** When the last full pass started (undefined: none yet, or the last pass failed). */
  private lastFullAt: number | undefined;
  /** How long the last change-driven (not full) pass took (ms): it sets the pace. */
  lastPassMs = 0;
  /** True when the last change-driven pass was a slice. */
  private lastPassSliced = false;
  /** How long the last full pass took (ms): it spaces full passes. */
  lastFullMs = 0;
  /** How many passes were slices (tests). */
  slicePasses = 0;
  private dirty: Dirty = dirtyAll();
  private last: LastPass | undefined;
  private readonly index = new RemoteIndex();

  constructor(private readonly o: TransportSyncOptions) {
    this.clock = o.clock ?? realClock;
    this.intervalMs = o.intervalMs ?? 10_000;
    this.loop = new Reconciler({
      pass: () => this.run(),
      onError: (err) => {
        this.lastError = errorMessage(err);
        this.programmed = false;
        this.lastFullAt = undefined;
        this.last = undefined;
        o.logger.warning("programming the transports failed; retrying", { error: this.lastError });
      },
      coalesceMs: () => Math.max(o.coalesceMs ?? 20, this.paceMs()),
      againDelayMs: () => this.paceMs(),
      intervalMs: this.intervalMs,
      backoff: { minMs: RETRY_MS, maxMs: RETRY_MS },
      clock: o.clock,
    });
  }

  /** Runs a pass at once, then every `intervalMs`. */
  start(): void {
    this.startedAt = this.clock.now();
    this.loop.start();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  /** Schedules a whole pass (coalescing changes that come in a burst). */
  kick(): void {
    this.dirty.all = true;
    this.loop.kick();
  }

  /** The peers changed: schedules a pass over the peers that did. */
  peersChanged(): void {
    this.dirty.peers = true;
    this.loop.kick();
  }

  /** An endpoint changed (a watch event), or all of them did (a listing: undefined or reset). */
  endpointChanged(change?: MirrorChange): void {
    if (change?.kind === "key") this.dirty.endpoints.add(change.key);
    else this.dirty.all = true;
    this.loop.kick();
  }

  /** Runs a pass now, after the pass under way if any (tests). */
  runNow(): Promise<void> {
    return this.loop.flush();
  }

  private async run(): Promise<void> {
    const inputs = this.o.inputs();
    if (!inputs) return;
    const started = this.clock.now();
    const full = this.fullPassDue();
    const dirty = this.dirty;
    this.dirty = { all: false, peers: false, endpoints: new Set() };
    const sliced = !full && !dirty.all && (await this.slicePass(inputs, dirty));
    if (!sliced) await this.wholePass(inputs, full);
    if (full) this.lastFullMs = this.clock.now() - started;
    else {
      this.lastPassMs = this.clock.now() - started;
      this.lastPassSliced = sliced;
    }
  }

  /** The pause before a change-driven pass (see Pacing). */
  private paceMs(): number {
    const pace = PACE * this.lastPassMs;
    return this.lastPassSliced ? Math.min(pace, SLICE_PACE_MAX_MS) : pace;
  }

  private async wholePass(given: ViewInputs, full: boolean): Promise<void> {
    this.last = undefined;
    const inputs = { ...given }; // reads the endpoints (a getter in the daemon) once
    if (this.o.endpoint) this.index.reset(inputs.endpoints);
    const view = transportView(inputs);
    const paths = choosePaths(view.peers, this.o.paths());
    const usable = usablePaths(paths);
    const tunnel = this.o.tunnel();
    await this.program(this.input(view, paths, usable, tunnel), { full });
    this.last = {
      peers: view.peers,
      registered: new Set(view.peers.map((p) => p.name)),
      paths,
      usable,
      signatures: signatures(view.peers, paths),
      tunnel: JSON.stringify(tunnel ?? null),
      networks: networksSignature(inputs),
    };
  }

  /**
   * Programs what the dirty endpoints and peers touch (see TransportSlice). Returns false, having
   * done nothing, when the pass must be a whole one.
   */
  private async slicePass(inputs: ViewInputs, dirty: Dirty): Promise<boolean> {
    const { last } = this;
    const { endpoint } = this.o;
    if (!last || !endpoint) return false;
    const tunnel = this.o.tunnel();
    if (JSON.stringify(tunnel ?? null) !== last.tunnel || networksSignature(inputs) !== last.networks)
      return false;
    const peers = dirty.peers ? inputs.peers.filter((p) => p.name !== inputs.host) : last.peers;
    const paths = dirty.peers ? choosePaths(peers, this.o.paths()) : last.paths;
    if ([...last.paths, ...paths].some((p) => p.transport === "routed")) return false;
    const now = dirty.peers ? signatures(peers, paths) : last.signatures;
    const changedPeers = dirty.peers ? changedKeys(last.signatures, now) : [];
    this.last = dirty.peers
      ? {
          ...last,
          peers,
          registered: new Set(peers.map((p) => p.name)),
          paths,
          usable: usablePaths(paths),
          signatures: now,
        }
      : last;
    const { registered, usable } = this.last;

    const macs = new Set<string>();
    const ips = new Set<string>();
    const touch = (ep: RemoteEndpointView | undefined): void => {
      if (!ep) return;
      const tags = endpointTags(ep);
      macs.add(tags.mac);
      for (const ip of tags.ips) ips.add(ip);
    };
    let flood = changedPeers.length > 0;
    for (const key of dirty.endpoints) {
      const change = this.index.set(key, endpoint(key));
      touch(change.before);
      touch(change.after);
      flood ||= change.hostsChanged;
    }
    for (const peer of changedPeers) for (const ep of this.index.ofHost(peer)) touch(ep);
    this.slicePasses++;
    if (macs.size === 0 && ips.size === 0 && !flood) {
      this.paths = paths;
      return true;
    }
    const view = this.sliceView(inputs, peers, registered, { macs, ips, flood });
    const slice: TransportSlice = { macs, ips, flood, peers: changedPeers.length > 0 };
    await this.program(this.input(view, paths, usable, tunnel), { full: false, slice });
    return true;
  }

  /**
   * The view with only the registered remote containers that carry one of the slice's MACs or
   * addresses. The networks' peers are listed only when the slice changes flooding: otherwise no
   * transport reads them, and listing them would cost O(hosts) per pass.
   */
  private sliceView(
    inputs: ViewInputs,
    peers: PeerRecord[],
    registered: ReadonlySet<string>,
    { macs, ips, flood }: { macs: ReadonlySet<string>; ips: ReadonlySet<string>; flood: boolean },
  ): TransportInput["view"] {
    const byNetwork = new Map<string, RemoteContainer[]>();
    for (const ep of this.index.matching(macs, ips)) {
      if (!registered.has(ep.host)) continue;
      const list = byNetwork.get(ep.clusterId);
      if (list) list.push(remoteContainer(ep));
      else byNetwork.set(ep.clusterId, [remoteContainer(ep)]);
    }
    const networks = localNetworks(inputs, (clusterId) => ({
      remotes: byNetwork.get(clusterId) ?? [],
      peers: flood
        ? this.index
            .hostsIn(clusterId)
            .filter((h) => registered.has(h))
            .sort()
        : [],
    }));
    return { self: inputs.host, peers, networks };
  }

  private input(
    view: TransportInput["view"],
    paths: PeerPath[],
    usable: PeerPath[],
    tunnel: TunnelSelf | undefined,
  ): TransportInput {
    this.paths = paths;
    return { view, paths: usable, local: this.o.local, ...(tunnel ? { tunnel } : {}) };
  }

  /** Runs every transport in order, and logs how long each took at debug level. */
  private async program(input: TransportInput, pass: TransportPass): Promise<void> {
    const ms: Record<string, number> = {};
    let operations = 0;
    for (const t of this.o.transports) {
      const t1 = this.clock.now();
      const report = await t.apply(input, pass);
      ms[t.name] = this.clock.now() - t1;
      operations += report.applied.length;
      if (report.applied.length > 0) this.o.logger.debug(`${t.name} programmed`, { applied: report.applied });
    }
    if (this.startedAt !== undefined) {
      // How long a start takes with the cluster present: the listing, then this first pass.
      const sinceStartMs = this.clock.now() - this.startedAt;
      this.startedAt = undefined;
      const remotes = input.view.networks.reduce((n, net) => n + net.remotes.length, 0);
      this.o.logger.info("transports programmed", { remotes, operations, sinceStartMs, ms });
    }
    this.o.logger.debug("transport pass", {
      full: pass.full,
      ...(pass.slice ? { slice: { macs: pass.slice.macs.size, ips: pass.slice.ips.size } } : {}),
      ms,
    });
    this.lastError = "";
    this.programmed = true;
  }

  /**
   * True when this pass reads the kernel for real: the first, the one after a failure, and one
   * at least every `intervalMs` (the periodic pass, or a pass a change asked for when changes come
   * so often that the periodic one never comes), but not sooner than FULL_PACE x the last one's
   * duration. Marks the pass's start as the last full one's.
   */
  private fullPassDue(): boolean {
    const now = this.clock.now();
    const spacing = Math.max(this.intervalMs, FULL_PACE * this.lastFullMs);
    const due = this.lastFullAt === undefined || now - this.lastFullAt >= spacing;
    if (due) this.lastFullAt = now;
    return due;
  }
}

/** Each peer's record and path as text, by name. */
function signatures(peers: readonly PeerRecord[], paths: readonly PeerPath[]): Map<string, string> {
  const pathOf = new Map(paths.map((p) => [p.peer, p]));
  return new Map(peers.map((p) => [p.name, JSON.stringify([p, pathOf.get(p.name) ?? null])]));
}

/** The keys whose value differs between the maps, or that only one of them has. */
function changedKeys(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(k);
  for (const k of before.keys()) if (!after.has(k)) out.push(k);
  return out;
}

/** The local networks that span hosts, as text: a change of one needs a whole pass. */
function networksSignature(inputs: ViewInputs): string {
  return JSON.stringify(localNetworks(inputs, () => ({ remotes: [], peers: [] })));
}
