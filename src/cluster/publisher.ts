/**
 * Keeps a set of keys this host owns (all under `prefix`) in the cluster store, under the host's
 * lease: the owner says what should be there (`replace`), the publisher writes the difference and
 * retries until the store has it. It lists the prefix once per lease, so keys left over from before
 * a restart are deleted and keys still attached to an older lease are rewritten under the current one.
 */
import type { Logger } from "../core/index.js";
import { errorMessage } from "../core/index.js";
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
  retryMs?: number;
}

export class LeasedPublisher {
  private desired = new Map<string, string>();
  /** What the store holds under `lease`, as far as this publisher knows. */
  private readonly published = new Map<string, string>();
  private lease = "";
  private listed = false;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: PublisherOptions) {
    o.session.onLease(() => this.kick());
  }

  /** The full set of keys and values that should be published. */
  replace(desired: ReadonlyMap<string, string>): void {
    this.desired = new Map(desired);
    this.kick();
  }

  /** True when the store holds exactly the desired keys (as far as known). */
  get inSync(): boolean {
    if (!this.listed || this.lease !== this.o.session.lease) return false;
    if (this.published.size !== this.desired.size) return false;
    for (const [k, v] of this.desired) if (this.published.get(k) !== v) return false;
    return true;
  }

  /** Publishes now; resolves when this round is done (tests). */
  async flush(): Promise<void> {
    this.kick();
    while (this.running) await this.running;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sync()
      .then(
        () => undefined,
        (err: unknown) => {
          this.o.logger.debug("publishing to the cluster failed; retrying", {
            prefix: this.o.prefix,
            error: errorMessage(err),
          });
          this.retryLater();
        },
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private retryLater(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.o.retryMs ?? 1_000);
    this.timer.unref();
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
