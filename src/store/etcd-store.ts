/**
 * ClusterStore over etcd's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/*,
 * /v3/watch), through the HttpTransport port (node:http / node:https by default): no gRPC stack, no
 * dependency. Keys and values travel base64-encoded; int64 fields arrive as strings; answers are
 * decoded at this edge (etcd-wire.ts). Every request has a timeout and tries the endpoints
 * in turn, so one etcd member down does not stop weave: a refused connection moves on at once, a
 * silent endpoint after `timeoutMs`. A member that answers it cannot serve (HTTP 503, gRPC
 * UNAVAILABLE: "no leader", "leader changed", "request timed out"), as every member does while the
 * cluster elects a new leader, moves on too; when a whole round of the endpoints saw such an answer,
 * the request goes round again after `retryPauseMs`, for about `timeoutMs`, so a leader election
 * (1-3 s with etcd's defaults) delays weave's requests without failing them. A write etcd
 * timed out may still have been applied, as one sent to a silent endpoint may: asking again is the
 * same bet as that failover (a put is idempotent; a create or compare-and-swap that meets its own
 * earlier write returns false, as after a lost race).
 *
 * TLS: `https://` endpoints go through one node:https Agent built from `tls` (PEM contents: `ca`
 * verifies the servers, `cert` + `key` authenticate weave to an etcd run with --client-cert-auth);
 * `http://` endpoints stay plain HTTP. TLS failures are reported as WEAVE_TIMEOUT ("cannot reach"),
 * so the next endpoint is tried, with a message that says TLS was the problem.
 *
 * Listings are paged, each one snapshot at one revision: see the design note of etcd-list.ts. Their
 * pages are read over etcd's gRPC (etcd-grpc.ts: 10 times less of etcd's CPU than the gateway's
 * JSON, see etcd-proto.ts), where an endpoint speaks it, and when no transport was given.
 *
 * Watch liveness (design note). A watch is one long-lived streaming POST to one endpoint. If the
 * etcd process dies its kernel closes the connection and the watch fails at once; the hard case is a
 * connection that stalls silently (host down, network partition), which no read ever reports.
 * etcd's progress notifications (`progress_notify: true`) are no cure: etcd 3.4 sends them every
 * `--experimental-watch-progress-notify-interval`, 10 minutes by default (checked against 3.4.23:
 * a quiet watch with progress_notify got no message in 25 s by default, one every 2 s with the flag at
 * 2s), and weave does not own the etcd flags. So while a watch is open it checks its endpoint itself:
 * every `watchCheckMs` (5 s) a cheap linearizable count-only range of one key on the same endpoint;
 * a failed check is repeated at once, and two failures in a row end the watch with onError
 * (WEAVE_TIMEOUT); the owner re-lists and watches again, on the next endpoint. A linearizable read also
 * fails on a member cut off from the leader, which would otherwise keep a watch open that never sees
 * another event. A stalled watch is reported within watchCheckMs + 2 x min(timeoutMs, watchCheckMs),
 * 15 s with the defaults. Until etcd answers the watch request, the request times out after `timeoutMs`.
 */
import type { Decoder, HttpTransport, NodeHttp } from "../core/index.js";
import { WeaveError, createNodeHttp, errorMessage, nodeHttp } from "../core/index.js";
import { createSecureContext } from "node:tls";
import type { ClusterStore, KeyValue, PutOptions, Watch, WatchEvent } from "./cluster-store.js";
import {
  answeredUnavailable,
  anyAnswer,
  b64,
  deleteAnswer,
  etcdPost,
  grantAnswer,
  keepAliveAnswer,
  putAnswer,
  rangeAnswer,
  txnAnswer,
} from "./etcd-wire.js";
import { EtcdWatch } from "./etcd-watch.js";
import { listPaged, type RangeBody, type RangePage } from "./etcd-list.js";
import { EtcdGrpc, notGrpc } from "./etcd-grpc.js";

/** PEM contents (not file names) for TLS to etcd. */
export interface EtcdTlsOptions {
  /** CA certificate(s) that signed the etcd servers' certificates (default: the system's CAs). */
  ca?: string;
  /** Client certificate, for an etcd run with --client-cert-auth (needs `key`). */
  cert?: string;
  /** Private key of `cert`. */
  key?: string;
}

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://10.0.0.1:2379", "https://10.0.0.2:2379"]. */
  endpoints: readonly string[];
  /** Timeout of each request to one endpoint, in ms (default 5000). */
  timeoutMs?: number;
  /** Used for the `https://` endpoints. */
  tls?: EtcdTlsOptions;
  /** How often an open watch checks that its endpoint still answers, in ms (default 5000). */
  watchCheckMs?: number;
  /** Keys per request of `list` (default 5000: etcd 3.4 walks the rest of the range for each page). */
  pageSize?: number;
  /**
   * Pause before asking the endpoints again when a member answered that it cannot serve now (no
   * leader during an election), in ms (default 250).
   */
  retryPauseMs?: number;
  /**
   * How requests are sent (default: node:http, and node:https with `tls` for https:// endpoints).
   * A transport given here is not closed by `close`.
   */
  http?: HttpTransport;
}

export class EtcdStore implements ClusterStore {
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly watchCheckMs: number;
  private readonly retryPauseMs: number;
  private readonly http: HttpTransport;
  /** The transport this store made (and closes); undefined when it was given one. */
  private readonly ownHttp: NodeHttp | undefined;
  private preferred = 0;
  /** Listings over gRPC; undefined when the options gave a transport. */
  private readonly grpc: EtcdGrpc | undefined;
  /** Endpoints that answered, but not in gRPC: their listings go through the gateway. */
  private readonly gatewayOnly = new Set<string>();
  /** Closers of the open watches. */
  private readonly watches = new Set<() => void>();

  /** Throws WEAVE_CONFIG for no endpoint, an endpoint that is not http(s)://, or cert without key. */
  constructor(private readonly o: EtcdStoreOptions) {
    if (o.endpoints.length === 0) throw new WeaveError("WEAVE_CONFIG", "No etcd endpoint given");
    for (const e of o.endpoints) {
      let url: URL | undefined;
      try {
        url = new URL(e);
      } catch {
        url = undefined;
      }
      if (url?.protocol !== "http:" && url?.protocol !== "https:")
        throw new WeaveError(
          "WEAVE_CONFIG",
          `Invalid etcd endpoint "${e}": expected http://HOST:PORT or https://HOST:PORT`,
        );
    }
    const tls = o.tls ?? {};
    if ((tls.cert === undefined) !== (tls.key === undefined))
      throw new WeaveError(
        "WEAVE_CONFIG",
        "TLS to etcd needs both a client certificate and its key, or neither",
      );
    this.timeoutMs = o.timeoutMs ?? 5_000;
    this.watchCheckMs = o.watchCheckMs ?? 5_000;
    this.retryPauseMs = Math.max(1, o.retryPauseMs ?? 250);
    this.pageSize = o.pageSize ?? 5_000;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1)
      throw new WeaveError(
        "WEAVE_CONFIG",
        `Invalid etcd page size ${this.pageSize}: expected an integer >= 1`,
      );
    const secure = o.endpoints.some((e) => e.startsWith("https:"));
    if (secure) {
      try {
        createSecureContext(tls); // Here, not as a throw from the first request.
      } catch (err) {
        throw new WeaveError("WEAVE_CONFIG", `Invalid TLS options for etcd: ${errorMessage(err)}`, {
          cause: err,
        });
      }
    }
    this.ownHttp = o.http === undefined && secure ? createNodeHttp({ tls }) : undefined;
    this.http = o.http ?? this.ownHttp ?? nodeHttp;
    this.grpc = o.http === undefined ? new EtcdGrpc(tls) : undefined;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return (await this.call("/v3/kv/range", { key: b64(key) }, rangeAnswer)).items[0];
  }

  /**
   * Every key under `prefix` in key order, read `pageSize` at a time as one snapshot at the revision
   * returned (see etcd-list.ts). Rejects with WEAVE_STATE, also when etcd compacted the snapshot's
   * revision away LIST_ATTEMPTS (3) times in a row, or WEAVE_TIMEOUT.
   */
  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    return listPaged((body) => this.range(body), prefix, this.pageSize);
  }

  /** Makes etcd drop the history before `revision` (POST /v3/kv/compaction); WEAVE_STATE when too old or new. */
  async compact(revision: number): Promise<void> {
    await this.call("/v3/kv/compaction", { revision: String(revision) }, anyAnswer);
  }

  put(key: string, value: string, options: PutOptions = {}): Promise<number> {
    return this.call("/v3/kv/put", this.putBody(key, value, options), putAnswer);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.call("/v3/kv/deleterange", { key: b64(key) }, deleteAnswer)) > 0;
  }

  create(key: string, value: string, options: PutOptions = {}): Promise<boolean> {
    return this.txn(
      [{ key: b64(key), result: "EQUAL", target: "CREATE", create_revision: "0" }],
      [{ request_put: this.putBody(key, value, options) }],
    );
  }

  compareAndSwap(
    key: string,
    modRevision: number,
    value: string,
    options: PutOptions = {},
  ): Promise<boolean> {
    return this.txn(
      [{ key: b64(key), result: "EQUAL", target: "MOD", mod_revision: String(modRevision) }],
      [{ request_put: this.putBody(key, value, options) }],
    );
  }

  compareAndDelete(key: string, modRevision: number): Promise<boolean> {
    return this.txn(
      [{ key: b64(key), result: "EQUAL", target: "MOD", mod_revision: String(modRevision) }],
      [{ request_delete_range: { key: b64(key) } }],
    );
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    const res = await this.call("/v3/lease/grant", { TTL: String(ttlSeconds) }, grantAnswer);
    if (!res.id) throw new WeaveError("WEAVE_STATE", `etcd granted no lease: ${res.error || "no ID"}`);
    return res.id;
  }

  keepAlive(lease: string): Promise<number> {
    return this.call("/v3/lease/keepalive", { ID: lease }, keepAliveAnswer);
  }

  async revokeLease(lease: string): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: lease }, anyAnswer).catch((err: unknown) => {
      if (!/not found/.test(errorMessage(err))) throw err;
    });
  }

  /** Never blocks; see the design note at the top for how a dead or stalled endpoint is reported. */
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): Watch {
    const index = this.preferred % this.o.endpoints.length;
    const watch = new EtcdWatch({
      http: this.http,
      endpoint: this.o.endpoints[index] ?? "",
      prefix,
      fromRevision,
      timeoutMs: this.timeoutMs,
      watchCheckMs: this.watchCheckMs,
      onEvent,
      onError,
      // The owner watches again after onError: send that attempt (and the next calls) elsewhere.
      avoidEndpoint: () => {
        if (this.preferred % this.o.endpoints.length === index) this.preferred = index + 1;
      },
      onStopped: () => this.watches.delete(stop),
    });
    const stop = () => watch.close();
    this.watches.add(stop);
    watch.start();
    return { close: stop };
  }

  async close(): Promise<void> {
    for (const stop of [...this.watches]) stop();
    this.ownHttp?.close();
    this.grpc?.close();
  }

  /**
   * One page of a listing: over gRPC where the endpoint speaks it (see etcd-proto.ts), else, and
   * with a transport given in the options, through the JSON gateway.
   */
  private range(body: RangeBody): Promise<RangePage> {
    const grpc = this.grpc;
    return this.failover(async (endpoint) => {
      if (grpc && !this.gatewayOnly.has(endpoint)) {
        const request = {
          key: Buffer.from(body.key, "base64"),
          rangeEnd: Buffer.from(body.range_end, "base64"),
          limit: Number(body.limit),
          revision: Number(body.revision ?? 0),
        };
        try {
          return await grpc.range(endpoint, request, this.timeoutMs);
        } catch (err) {
          if (!notGrpc(err)) throw err;
          this.gatewayOnly.add(endpoint); // e.g. a proxy that forwards the JSON gateway only
        }
      }
      return etcdPost(this.http, endpoint, "/v3/kv/range", body, rangeAnswer, this.timeoutMs);
    });
  }

  private putBody(key: string, value: string, options: PutOptions): Record<string, string> {
    const body: Record<string, string> = { key: b64(key), value: b64(value) };
    if (options.lease) body["lease"] = options.lease;
    return body;
  }

  private txn(compare: unknown[], success: unknown[]): Promise<boolean> {
    return this.call("/v3/kv/txn", { compare, success }, txnAnswer);
  }

  /**
   * POSTs to the first endpoint that answers, preferring the last one that did. While members answer
   * that they cannot serve now (an election), goes round the endpoints again every `retryPauseMs`, up
   * to `timeoutMs / retryPauseMs` rounds and no new round after 2 x `timeoutMs`. Rejects with the
   * last failure.
   */
  private call<T>(path: string, body: unknown, decoder: Decoder<T>): Promise<T> {
    return this.failover((endpoint) => etcdPost(this.http, endpoint, path, body, decoder, this.timeoutMs));
  }

  /** Sends with `send` to the endpoints in turn, as {@link call} says. */
  private async failover<T>(send: (endpoint: string) => Promise<T>): Promise<T> {
    const started = Date.now();
    const rounds = Math.max(1, Math.floor(this.timeoutMs / this.retryPauseMs));
    for (let round = 1; ; round++) {
      let last: unknown;
      let unavailable = false;
      for (let i = 0; i < this.o.endpoints.length; i++) {
        const index = (this.preferred + i) % this.o.endpoints.length;
        try {
          const res = await send(this.o.endpoints[index] ?? "");
          this.preferred = index;
          return res;
        } catch (err) {
          last = err;
          if (err instanceof WeaveError && err.code === "WEAVE_STATE") throw err; // etcd answered: final
          unavailable ||= answeredUnavailable(err);
        }
      }
      if (!unavailable || round >= rounds || Date.now() - started >= 2 * this.timeoutMs)
        throw last instanceof Error ? last : new Error(String(last));
      await new Promise((resolve) => setTimeout(resolve, this.retryPauseMs));
    }
  }
}
