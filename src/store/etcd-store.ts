/**
 * ClusterStore over etcd's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/*,
 * /v3/watch), on plain node:http / node:https: no gRPC stack, no dependency. Keys and values travel
 * base64-encoded; int64 fields arrive as strings. Every request has a timeout and tries the endpoints
 * in turn, so one etcd member down does not stop weave: a refused connection moves on at once, a
 * silent endpoint after `timeoutMs`.
 *
 * TLS: `https://` endpoints go through one node:https Agent built from `tls` (PEM contents: `ca`
 * verifies the servers, `cert` + `key` authenticate weave to an etcd run with --client-cert-auth);
 * `http://` endpoints stay plain HTTP. TLS failures are reported as WEAVE_TIMEOUT ("cannot reach"),
 * so the next endpoint is tried, with a message that says TLS was the problem.
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
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions } from "node:https";
import { createSecureContext } from "node:tls";
import { WeaveError, errorMessage, readLines } from "../core/index.js";
import type { Header, RawKv } from "./etcd-wire.js";
import { b64, readBody, toKv, unreachable } from "./etcd-wire.js";
import type { ClusterStore, KeyValue, PutOptions, Watch, WatchEvent } from "./cluster-store.js";
import { prefixEnd } from "./cluster-store.js";

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
}

export class EtcdStore implements ClusterStore {
  private readonly timeoutMs: number;
  private readonly watchCheckMs: number;
  private readonly httpsAgent: HttpsAgent | undefined;
  private preferred = 0;
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
    if (o.endpoints.some((e) => e.startsWith("https:"))) {
      const agent: AgentOptions = { keepAlive: true };
      if (tls.ca !== undefined) agent.ca = tls.ca;
      if (tls.cert !== undefined) agent.cert = tls.cert;
      if (tls.key !== undefined) agent.key = tls.key;
      try {
        createSecureContext(agent); // Here, not as a throw from the first request.
      } catch (err) {
        throw new WeaveError("WEAVE_CONFIG", `Invalid TLS options for etcd: ${errorMessage(err)}`, {
          cause: err,
        });
      }
      this.httpsAgent = new HttpsAgent(agent);
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = (await this.call("/v3/kv/range", { key: b64(key) })) as { kvs?: RawKv[] };
    const kv = res.kvs?.[0];
    return kv && toKv(kv);
  }

  async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    const res = (await this.call("/v3/kv/range", {
      key: b64(prefix),
      range_end: b64(prefixEnd(prefix)),
    })) as {
      kvs?: RawKv[];
      header?: Header;
    };
    return { items: (res.kvs ?? []).map(toKv), revision: Number(res.header?.revision ?? 0) };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<number> {
    const res = (await this.call("/v3/kv/put", this.putBody(key, value, options))) as { header?: Header };
    return Number(res.header?.revision ?? 0);
  }

  async delete(key: string): Promise<boolean> {
    const res = (await this.call("/v3/kv/deleterange", { key: b64(key) })) as { deleted?: string };
    return Number(res.deleted ?? 0) > 0;
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
    const res = (await this.call("/v3/lease/grant", { TTL: String(ttlSeconds) })) as {
      ID?: string;
      error?: string;
    };
    if (!res.ID) throw new WeaveError("WEAVE_STATE", `etcd granted no lease: ${res.error ?? "no ID"}`);
    return res.ID;
  }

  async keepAlive(lease: string): Promise<number> {
    const res = (await this.call("/v3/lease/keepalive", { ID: lease })) as { result?: { TTL?: string } };
    return Number(res.result?.TTL ?? 0);
  }

  async revokeLease(lease: string): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: lease }).catch((err: unknown) => {
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
    const endpoint = this.o.endpoints[index] ?? "";
    const body = JSON.stringify({
      create_request: {
        key: b64(prefix),
        range_end: b64(prefixEnd(prefix)),
        start_revision: String(fromRevision),
      },
    });
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      closed = true;
      clearTimeout(timer);
      this.watches.delete(stop);
      req.destroy();
    };
    const fail = (err: Error) => {
      if (closed) return;
      stop();
      onError(err);
    };
    const req = this.open(endpoint, "/v3/watch", body, this.timeoutMs, (res) => {
      req.setTimeout(0); // From here silence is normal; the liveness check notices a stall.
      if ((res.statusCode ?? 500) >= 400) {
        readBody(res, (text) =>
          fail(
            new WeaveError(
              "WEAVE_STATE",
              `etcd ${endpoint}/v3/watch answered ${res.statusCode ?? 0}: ${text.slice(0, 200)}`,
            ),
          ),
        );
        return;
      }
      readLines(res, (line) => {
        let msg: {
          result?: { events?: { type?: string; kv: RawKv }[]; canceled?: boolean; cancel_reason?: string };
          error?: { message?: string };
        };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          fail(
            new WeaveError(
              "WEAVE_STATE",
              `etcd sent a watch message that is not JSON: ${line.slice(0, 100)}`,
            ),
          );
          return;
        }
        if (msg.error || msg.result?.canceled) {
          fail(
            new WeaveError(
              "WEAVE_STATE",
              `etcd watch ended: ${msg.error?.message ?? msg.result?.cancel_reason ?? "canceled"}`,
            ),
          );
          return;
        }
        for (const e of msg.result?.events ?? []) {
          if (closed) return;
          const kv = toKv(e.kv);
          onEvent({
            type: e.type === "DELETE" ? "delete" : "put",
            key: kv.key,
            value: kv.value,
            modRevision: kv.modRevision,
          });
        }
      });
      res.on("end", () => fail(new WeaveError("WEAVE_STATE", `etcd at ${endpoint} closed the watch`)));
      res.on("error", (err) =>
        fail(
          new WeaveError(
            "WEAVE_TIMEOUT",
            `Lost the watch connection to etcd at ${endpoint}: ${err.message}`,
            {
              cause: err,
            },
          ),
        ),
      );
      res.on("close", () =>
        fail(new WeaveError("WEAVE_TIMEOUT", `Lost the watch connection to etcd at ${endpoint}`)),
      );
    });
    req.on("timeout", () =>
      req.destroy(
        new WeaveError("WEAVE_TIMEOUT", `etcd ${endpoint}/v3/watch: no answer within ${this.timeoutMs} ms`),
      ),
    );
    // The owner watches again after onError: send that attempt (and the next calls) elsewhere.
    const avoidEndpoint = () => {
      if (!closed && this.preferred % this.o.endpoints.length === index) this.preferred = index + 1;
    };
    req.on("error", (err) => {
      avoidEndpoint();
      fail(unreachable(endpoint, err));
    });

    let failures = 0;
    const probe = { key: b64(prefix), count_only: true };
    const check = () => {
      // After a failure, confirm at once rather than a whole interval later.
      const delay = failures > 0 ? 0 : this.watchCheckMs;
      timer = setTimeout(() => {
        void this.post(endpoint, "/v3/kv/range", probe, Math.min(this.timeoutMs, this.watchCheckMs))
          .then(
            () => {
              failures = 0;
            },
            (err: unknown) => {
              if (++failures < 2) return;
              avoidEndpoint();
              fail(
                new WeaveError(
                  "WEAVE_TIMEOUT",
                  `etcd at ${endpoint} failed 2 liveness checks in a row, ending the watch of "${prefix}": ${errorMessage(err)}`,
                  { cause: err },
                ),
              );
            },
          )
          .finally(() => {
            if (!closed) check();
          });
      }, delay);
      timer.unref();
    };
    check();

    this.watches.add(stop);
    req.end(body);
    return { close: stop };
  }

  async close(): Promise<void> {
    for (const stop of [...this.watches]) stop();
    this.httpsAgent?.destroy();
  }

  private putBody(key: string, value: string, options: PutOptions): Record<string, string> {
    const body: Record<string, string> = { key: b64(key), value: b64(value) };
    if (options.lease) body["lease"] = options.lease;
    return body;
  }

  private async txn(compare: unknown[], success: unknown[]): Promise<boolean> {
    const res = (await this.call("/v3/kv/txn", { compare, success })) as { succeeded?: boolean };
    return res.succeeded === true;
  }

  /** POSTs to the first endpoint that answers; rejects with the last failure. */
  private async call(path: string, body: unknown): Promise<unknown> {
    let last: unknown;
    for (let i = 0; i < this.o.endpoints.length; i++) {
      const index = (this.preferred + i) % this.o.endpoints.length;
      try {
        const res = await this.post(this.o.endpoints[index] ?? "", path, body);
        this.preferred = index;
        return res;
      } catch (err) {
        last = err;
        if (err instanceof WeaveError && err.code === "WEAVE_STATE") throw err; // etcd answered: final
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  /** Starts a POST of `payload` to `endpoint` + `path`, over http or https as the endpoint says. */
  private open(
    endpoint: string,
    path: string,
    payload: string,
    timeoutMs: number,
    onResponse: (res: IncomingMessage) => void,
  ): ClientRequest {
    const url = new URL(path, endpoint);
    const options = {
      // URL keeps the brackets of an IPv6 host; the socket wants the bare address.
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port,
      path: url.pathname,
      method: "POST",
      timeout: timeoutMs,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) },
    };
    return url.protocol === "https:"
      ? httpsRequest({ ...options, ...(this.httpsAgent ? { agent: this.httpsAgent } : {}) }, onResponse)
      : httpRequest(options, onResponse);
  }

  private post(endpoint: string, path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = this.open(endpoint, path, payload, timeoutMs, (res) =>
        readBody(res, (text) => {
          let json: { error?: string; message?: string } & Record<string, unknown>;
          try {
            json = JSON.parse(text) as typeof json;
          } catch {
            reject(
              new WeaveError(
                "WEAVE_STATE",
                `etcd ${endpoint}${path} answered ${res.statusCode ?? 0}: ${text.slice(0, 200)}`,
              ),
            );
            return;
          }
          if ((res.statusCode ?? 500) >= 400 || json.error) {
            reject(
              new WeaveError("WEAVE_STATE", `etcd ${path} failed: ${json.message ?? json.error ?? text}`),
            );
            return;
          }
          resolve(json);
        }),
      );
      req.on("timeout", () =>
        req.destroy(
          new WeaveError("WEAVE_TIMEOUT", `etcd ${endpoint}${path}: no answer within ${timeoutMs} ms`),
        ),
      );
      req.on("error", (err) => reject(unreachable(endpoint, err)));
      req.end(payload);
    });
  }
}
