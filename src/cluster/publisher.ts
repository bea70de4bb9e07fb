/**
 * Keeps a set of keys this host owns (all under `prefix`) in the cluster store, under the host's
 * lease: the owner says what should be there (`replace`), the publisher writes the difference and
 * retries until the store has it. It lists the prefix once per lease, so keys left over from before
 * a restart are deleted and keys still attached to an older lease are rewritten under the current one.
 */
import type { Clock, Logger } from "../core/index.js";
import { errorMessage, Reconciler } from "../core/index.js";
import type { ClusterStore } from "../store/index.js";
import type { StoreHealth } from "./health.js";
import type { Session } from "./session.js";

export interface PublisherOptions {
  store: ClusterStore;
  health: StoreHealth;
  session: Session;
  /** Every key this publisher owns starts with it. */
  prefix: string;
  logger: Logger;
  /** Time between retries while the store fails (ms). */
  retryMs?: number;
  clock?: Clock | undefined;
}

export class LeasedPublisher {
  private desired = new Map<string, string>();
  /** What the store holds under `lease`, as far as this publisher knows. */
  private readonly published = new Map<string, string>();
  private lease = "";
  private listed = false;
  private readonly loop: Reconciler;

  constructor(private readonly o: PublisherOptions) {
    const retryMs = o.retryMs ?? 1_000;
    this.loop = new Reconciler({
      pass: () => this.sync(),
      onError: (err) =>
        o.logger.debug("publishing to the cluster failed; retrying", {
          prefix: o.prefix,
          error: errorMessage(err),
        }),
      backoff: { minMs: retryMs, maxMs: retryMs },
      clock: o.clock,
    });
    o.session.onLease(() => this.loop.kick());
  }

  /** The full set of keys and values that should be published. */
  replace(desired: ReadonlyMap<string, string>): void {
    this.desired = new Map(desired);
    this.loop.kick();
  }

  /** True when the store holds exactly the desired keys (as far as known). */
  get inSync(): boolean {
    if (!this.listed || this.lease !== this.o.session.lease) return false;
    if (this.published.size !== this.desired.size) return false;
    for (const [k, v] of this.desired) if (this.published.get(k) !== v) return false;
    return true;
  }

  /** Publishes now; resolves when this round is done (tests). */
  flush(): Promise<void> {
    return this.loop.flush();
  }

  /** Stops publishing (a running round finishes on its own). */
  close(): void {
    void this.loop.close();
  }

  private async sync(): Promise<void> {
    const { store, health, session } = this.o;
    const lease = session.lease;
    if (lease === undefined) return; // the session announces its lease when it has one
    if (lease !== this.lease) {
      this.lease = lease;
      this.listed = false;
      this.published.clear();
    }
    if (!this.listed) {
      const listing = await health.track(store.list(this.o.prefix));
      this.published.clear();
      for (const kv of listing.items) {
        // A key on an older lease would vanish with it: write it again.
        this.published.set(kv.key, kv.lease === lease ? kv.value : "\u0000stale");
      }
      this.listed = true;
    }
    for (const [key, value] of this.desired) {
      if (this.published.get(key) === value) continue;
      await health.track(store.put(key, value, { lease }));
      this.published.set(key, value);
    }
    for (const key of [...this.published.keys()]) {
      if (this.desired.has(key)) continue;
      await health.track(store.delete(key));
      this.published.delete(key);
    }
  }
}
