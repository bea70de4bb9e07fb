/**
 * Programs this host's transports from the cluster view: on every change it builds the
 * transport-neutral view, chooses the path to each peer, and runs every transport in order (the
 * WireGuard layer first: the others send into it). Containers of peers whose registration is gone
 * (lease expired) are left out, so their entries disappear everywhere within a second of the
 * expiry. Changes are coalesced (a burst of watch events costs one pass) and a full pass also runs
 * periodically, which repairs what was removed behind weave's back: only a full pass has the
 * transports read the kernel's state; a pass a change asked for plans against what they remember
 * (TransportPass), so that it costs work proportional to the change. The paths of the last pass are
 * kept for `weave status peers` and the metrics.
 *
 * Pacing: a pass still builds the view and plans over the whole cluster (linear in its size: about
 * 40 ms at 10,000 remote containers on this project's 2-core test VM), so under a steady stream of
 * changes passes are spaced by PACE x the last change-driven pass's duration: those passes never
 * take more than 1 / (1 + PACE) of a core, and a change waits at most about (1 + PACE) x one pass.
 * A full pass (it reads the kernel: seconds at that size) does not set the pace: it comes at most
 * once per interval already, and pacing by it would hold every change back by several seconds.
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, realClock, Reconciler } from "../core/index.js";
import type { PathOptions, PeerPath } from "./paths.js";
import { choosePaths, usablePaths } from "./paths.js";
import type { ViewInputs } from "./transport-view.js";
import { transportView } from "./transport-view.js";
import type { TunnelSelf, Transport } from "./transports/transport.js";

export interface TransportSyncOptions {
  /** In order: the first runs first. */
  transports: readonly Transport[];
  /** The cluster's records, undefined until the view is synced. */
  inputs: () => ViewInputs | undefined;
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

export class TransportSync {
  private readonly loop: Reconciler;
  lastError = "";
  /** The path to each peer as the last pass chose it (all peers, mismatches included). */
  paths: PeerPath[] = [];
  /** True once a pass has programmed every transport without an error. */
  programmed = false;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  /** When the last full pass started (undefined: none yet, or the last pass failed). */
  private lastFullAt: number | undefined;
  /** How long the last change-driven (not full) pass took (ms): it sets the pace. */
  lastPassMs = 0;

  constructor(private readonly o: TransportSyncOptions) {
    this.clock = o.clock ?? realClock;
    this.intervalMs = o.intervalMs ?? 10_000;
    this.loop = new Reconciler({
      pass: () => this.run(),
      onError: (err) => {
        this.lastError = errorMessage(err);
        this.programmed = false;
        this.lastFullAt = undefined;
        o.logger.warning("programming the transports failed; retrying", { error: this.lastError });
      },
      coalesceMs: () => Math.max(o.coalesceMs ?? 20, PACE * this.lastPassMs),
      againDelayMs: () => PACE * this.lastPassMs,
      intervalMs: this.intervalMs,
      backoff: { minMs: RETRY_MS, maxMs: RETRY_MS },
      clock: o.clock,
    });
  }

  /** Runs a pass at once, then every `intervalMs`. */
  start(): void {
    this.loop.start();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  /** Schedules a pass (coalescing changes that come in a burst). */
  kick(): void {
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
    await this.pass(inputs, full);
    if (!full) this.lastPassMs = this.clock.now() - started;
  }

  private async pass(inputs: ViewInputs, full: boolean): Promise<void> {
    const view = transportView(inputs);
    const paths = choosePaths(view.peers, this.o.paths());
    this.paths = paths;
    const tunnel = this.o.tunnel();
    const input = { view, paths: usablePaths(paths), local: this.o.local, ...(tunnel ? { tunnel } : {}) };
    const pass = { full };
    for (const t of this.o.transports) {
      const report = await t.apply(input, pass);
      if (report.applied.length > 0) this.o.logger.debug(`${t.name} programmed`, { applied: report.applied });
    }
    this.lastError = "";
    this.programmed = true;
  }

  /**
   * True when this pass reads the kernel for real: the first, the one after a failure, and one
   * at least every `intervalMs` (the periodic pass, or a pass a change asked for when changes come
   * so often that the periodic one never comes). Marks the pass's start as the last full one's.
   */
  private fullPassDue(): boolean {
    const now = this.clock.now();
    const due = this.lastFullAt === undefined || now - this.lastFullAt >= this.intervalMs;
    if (due) this.lastFullAt = now;
    return due;
  }
}
