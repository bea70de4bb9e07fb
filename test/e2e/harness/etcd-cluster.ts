/**
 * Starting etcd for the e2e tests: one member alone ({@link startEtcd}), or a cluster of several
 * ({@link startEtcdCluster}) for tests of weave against a store that loses members and its leader.
 * Every member runs in the underlay switch's namespace on its own client port of the switch's
 * address, so every host reaches all of them; members talk to each other on 127.0.0.1 inside that
 * namespace. The member itself is {@link Etcd} (etcd.ts).
 */
import { randomBytes } from "node:crypto";
import { track } from "./cleanup.js";
import { HarnessError, findExecutable, sleep } from "./exec.js";
import { ETCD_BIN, ETCD_CLIENT_PORT, ETCD_PEER_PORT, Etcd, type EtcdOptions, type EtcdTls } from "./etcd.js";
import type { Underlay } from "./underlay.js";

/**
 * Starts etcd in `underlay`'s namespace with a fresh data directory under {@link HOSTS_DIR} and resolves
 * once it answers healthy (about 1 s). Throws `WEAVE_E2E_UNAVAILABLE` when etcd or busybox is not
 * installed, `WEAVE_E2E_SETUP` (with etcd's log) when it exits or is not healthy in time; whatever it made
 * is removed then. Needs root. The instance is tracked for `destroyAll()` and for exit-time cleanup.
 * Only one instance per underlay can run (fixed ports).
 */
export async function startEtcd(
  underlay: Underlay,
  opts: EtcdOptions & { tls?: EtcdTls } = {},
): Promise<Etcd> {
  const [etcd] = await startMembers(underlay, 1, opts);
  if (etcd === undefined) throw new HarnessError("WEAVE_E2E_SETUP", "No etcd started");
  return etcd;
}

/**
 * Makes `count` members of one new cluster in `underlay`'s namespace (member i: client port
 * {@link ETCD_CLIENT_PORT} + 10 000 i on the switch's address, peer port {@link ETCD_PEER_PORT} +
 * 10 000 i on 127.0.0.1), tracks them, starts them together (a member of a cluster of several is
 * healthy only once a quorum runs) and resolves once each is healthy. On failure every member is
 * destroyed and the first error thrown (codes as {@link startEtcd}).
 */
export async function startMembers(
  underlay: Underlay,
  count: number,
  opts: EtcdOptions & { tls?: EtcdTls } = {},
): Promise<Etcd[]> {
  for (const bin of [ETCD_BIN, "busybox", "nsenter"]) {
    if (findExecutable(bin) === undefined)
      throw new HarnessError("WEAVE_E2E_UNAVAILABLE", `Cannot start etcd: "${bin}" is not installed`);
  }
  const id = `etcd-${underlay.name}-${randomBytes(3).toString("hex")}`;
  const names = Array.from({ length: count }, (_, i) => (count === 1 ? "default" : `m${i}`));
  const peer = (i: number) => `http://127.0.0.1:${ETCD_PEER_PORT + 10_000 * i}`;
  const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(",");
  const members = names.map((memberName, i) => {
    const etcd = new Etcd({
      netns: underlay.name,
      address: underlay.gateway,
      dirName: count === 1 ? id : `${id}-${memberName}`,
      memberName,
      clientPort: ETCD_CLIENT_PORT + 10_000 * i,
      peerPort: ETCD_PEER_PORT + 10_000 * i,
      initialCluster,
      token: id,
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
    track(etcd);
    return etcd;
  });
  const started = await Promise.allSettled(members.map((m) => m.start(opts)));
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(members.map((m) => m.destroy().catch(() => undefined)));
    throw failed.reason;
  }
  return members;
}

/** Options of {@link startEtcdCluster}. */
export interface EtcdClusterOptions extends EtcdOptions {
  /** How many members (default 3). */
  members?: number;
}

/**
 * Starts a new etcd cluster of `members` members in `underlay`'s namespace and resolves once each is
 * healthy. Throws as {@link startEtcd} (every member destroyed then). Needs root. The members are
 * tracked for `destroyAll()` and exit-time cleanup. One etcd (cluster) per underlay.
 */
export async function startEtcdCluster(
  underlay: Underlay,
  opts: EtcdClusterOptions = {},
): Promise<EtcdCluster> {
  const { members = 3, ...rest } = opts;
  if (members < 1)
    throw new HarnessError("WEAVE_E2E_SETUP", `An etcd cluster needs a member, not ${members}`);
  return new EtcdCluster(await startMembers(underlay, members, rest));
}

/** The members of one etcd cluster; create it with {@link startEtcdCluster}. */
export class EtcdCluster {
  /** @internal Use {@link startEtcdCluster}. */
  constructor(readonly members: readonly Etcd[]) {}

  /** Every member's client URL, e.g. ["http://192.168.199.254:2379", "http://192.168.199.254:12379", ...]. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** The value for `weave launch --store`: "etcd://A:P1,A:P2,A:P3" (etcds:// with TLS). */
  get storeUrl(): string {
    const [scheme = "etcd"] = this.members[0]?.url.split("://") ?? [];
    return `${scheme}://${this.members.map((m) => m.url.split("://")[1] ?? "").join(",")}`;
  }

  /**
   * The running member that is the leader, as the running members see it. Polls (every 200 ms)
   * until one running member names a leader that is itself running, e.g. during an election. Throws
   * `WEAVE_E2E_SETUP` when none is found within `timeoutMs`.
   */
  async leader(timeoutMs = 15_000): Promise<Etcd> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.members.filter((m) => m.pid !== undefined);
      const seen = await Promise.all(running.map((m) => m.status().catch(() => undefined)));
      const leaders = new Set(seen.map((s) => s?.leader).filter((id) => id !== undefined && id !== "0"));
      const leader = running.find((_, i) => {
        const id = seen[i]?.memberId;
        return id !== undefined && leaders.has(id);
      });
      if (leader !== undefined) return leader;
      if (Date.now() > deadline)
        throw new HarnessError("WEAVE_E2E_SETUP", `No etcd member is the leader after ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** True when every member answers healthy. */
  async healthy(): Promise<boolean> {
    return (await Promise.all(this.members.map((m) => m.healthy()))).every((h) => h);
  }

  /** Destroys every member (they are also destroyed by `destroyAll()`). */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => m.destroy()));
  }
}
