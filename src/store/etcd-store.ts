/**
 * ClusterStore over etcd's v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/*,
 * /v3/watch), on plain node:http: no gRPC stack, no dependency. Keys and values travel base64-encoded;
 * int64 fields arrive as strings. Every request has a timeout and tries the endpoints in turn, so one
 * etcd member down does not stop weave.
 */
import { request, type ClientRequest } from "node:http";
import { WeaveError, errorMessage, readLines } from "../core/index.js";
import type { ClusterStore, KeyValue, PutOptions, Watch, WatchEvent } from "./cluster-store.js";
import { prefixEnd } from "./cluster-store.js";

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]. */
  endpoints: readonly string[];
  timeoutMs?: number;
}

interface RawKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}
interface Header {
  revision?: string;
}

const b64 = (s: string | Buffer): string =>
  (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");
const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, "base64").toString("utf8") : "");

function toKv(raw: RawKv): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    lease: raw.lease && raw.lease !== "0" ? raw.lease : "",
  };
}

export class EtcdStore implements ClusterStore {
  private readonly timeoutMs: number;
  private preferred = 0;
  private readonly watches = new Set<ClientRequest>();

  constructor(private readonly o: EtcdStoreOptions) {
    if (o.endpoints.length === 0) throw new WeaveError("WEAVE_CONFIG", "No etcd endpoint given");
    this.timeoutMs = o.timeoutMs ?? 5_000;
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

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): Watch {
    const url = new URL("/v3/watch", this.endpoint());
    const body = JSON.stringify({
      create_request: {
        key: b64(prefix),
        range_end: b64(prefixEnd(prefix)),
        start_revision: String(fromRevision),
      },
    });
    let closed = false;
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST" }, (res) => {
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
          const kv = toKv(e.kv);
          onEvent({
            type: e.type === "DELETE" ? "delete" : "put",
            key: kv.key,
            value: kv.value,
            modRevision: kv.modRevision,
          });
        }
      });
      res.on("end", () => fail(new WeaveError("WEAVE_STATE", "etcd closed the watch")));
      res.on("error", (err) => fail(err));
    });
    const fail = (err: Error) => {
      if (closed) return;
      closed = true;
      this.watches.delete(req);
      req.destroy();
      onError(err);
    };
    req.on("error", (err) => fail(err));
    this.watches.add(req);
    req.end(body);
    return {
      close: () => {
        closed = true;
        this.watches.delete(req);
        req.destroy();
      },
    };
  }

  async close(): Promise<void> {
    for (const req of this.watches) req.destroy();
    this.watches.clear();
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

  private endpoint(): string {
    return this.o.endpoints[this.preferred % this.o.endpoints.length] ?? "";
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

  private post(endpoint: string, path: string, body: unknown): Promise<unknown> {
    const url = new URL(path, endpoint);
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          timeout: this.timeoutMs,
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => {
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
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(
          new WeaveError("WEAVE_TIMEOUT", `etcd ${endpoint}${path}: no answer within ${this.timeoutMs} ms`),
        ),
      );
      req.on("error", (err) =>
        reject(
          err instanceof WeaveError
            ? err
            : new WeaveError("WEAVE_TIMEOUT", `Cannot reach etcd at ${endpoint}: ${err.message}`, {
                cause: err,
              }),
        ),
      );
      req.end(payload);
    });
  }
}
