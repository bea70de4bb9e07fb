/**
 * The wire side of EtcdStore: etcd's v3 JSON gateway encodings (base64 keys and values, int64 as
 * strings, proto3 fields left out when zero), decoders of its answers, one POST to one endpoint, and
 * the translation of transport failures (refused, reset, TLS, silence) into WEAVE_TIMEOUT errors that
 * say what went wrong where.
 */
import type { Decoder, HttpResponse, HttpTransport } from "../core/index.js";
import {
  WeaveError,
  anything,
  arrayOf,
  bool,
  decodeJson,
  fields,
  int64,
  isHttpTimeout,
  num,
  orElse,
  str,
} from "../core/index.js";
import type { KeyValue, WatchEvent } from "./cluster-store.js";

export const b64 = (s: string | Buffer): string =>
  (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");
export const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, "base64").toString("utf8") : "");

/** An ID etcd sends as an int64: a decimal string (or, from a lenient gateway, a number). */
const id: Decoder<string> = (v, at) => (typeof v === "number" ? String(num(v, at)) : str(v, at));
const count = orElse(int64, 0);

/** A mvccpb.KeyValue. */
const keyValue: Decoder<KeyValue> = (v, at) => {
  const f = fields(v, at);
  const lease = f.req("lease", orElse(id, ""));
  return {
    key: unb64(f.req("key", str)),
    value: unb64(f.req("value", orElse(str, ""))),
    createRevision: f.req("create_revision", count),
    modRevision: f.req("mod_revision", count),
    lease: lease === "0" ? "" : lease,
  };
};

/** The store revision of an answer's header (0 when absent). */
const revision: Decoder<number> = (v, at) => fields(v, at).sub("header").req("revision", count);

/**
 * /v3/kv/range: the keys, the store revision (of the header: the current one, also for a read at an
 * older revision) and whether keys beyond `limit` remain (`more`, left out when false).
 */
export const rangeAnswer: Decoder<{ items: KeyValue[]; revision: number; more: boolean }> = (v, at) => {
  const f = fields(v, at);
  return {
    items: f.req("kvs", orElse(arrayOf(keyValue), [])),
    revision: revision(v, at),
    more: f.req("more", orElse(bool, false)),
  };
};

/** etcd's answer to a read at, or a compaction to, a revision it has compacted away. */
export const isCompactedAnswer = (err: unknown): boolean =>
  err instanceof WeaveError &&
  err.code === "WEAVE_STATE" &&
  /required revision has been compacted/.test(err.message);

/** /v3/kv/put: the new revision. */
export const putAnswer: Decoder<number> = revision;

/** /v3/kv/deleterange: how many keys went. */
export const deleteAnswer: Decoder<number> = (v, at) => fields(v, at).req("deleted", count);

/** /v3/kv/txn: whether the comparisons held (and the success branch ran). */
export const txnAnswer: Decoder<boolean> = (v, at) => fields(v, at).req("succeeded", orElse(bool, false));

/** /v3/lease/grant: the lease ID ("" when none) and etcd's reason for none. */
export const grantAnswer: Decoder<{ id: string; error: string }> = (v, at) => {
  const f = fields(v, at);
  return { id: f.req("ID", orElse(id, "")), error: f.req("error", orElse(str, "")) };
};

/** /v3/lease/keepalive: the TTL the lease has now, 0 when it has expired. */
export const keepAliveAnswer: Decoder<number> = (v, at) => fields(v, at).sub("result").req("TTL", count);

/** Any JSON object (an answer only waited for, such as a revoke or a liveness check). */
export const anyAnswer: Decoder<void> = (v, at) => void fields(v, at);

/**
 * One message of a watch stream: changes, or the end of the watch with etcd's reason and, when the
 * start revision was compacted, etcd's compaction revision (0 otherwise).
 */
export type WatchMessage = { events: WatchEvent[] } | { ended: string; compactRevision: number };

const watchEvent: Decoder<WatchEvent> = (v, at) => {
  const f = fields(v, at);
  const kv = f.req("kv", keyValue);
  const type = f.req("type", orElse(str, "PUT")) === "DELETE" ? "delete" : "put";
  return { type, key: kv.key, value: kv.value, modRevision: kv.modRevision };
};

export const watchMessage: Decoder<WatchMessage> = (v, at) => {
  const f = fields(v, at);
  const error: unknown = f.req("error", anything);
  const result = f.sub("result");
  // etcd 3.4 cancels a watch from a compacted revision with compact_revision and no cancel_reason.
  const compactRevision = error ? 0 : result.req("compact_revision", count);
  if (error || compactRevision > 0 || result.req("canceled", orElse(bool, false))) {
    const message = typeof error === "object" ? f.sub("error").opt("message", str).message : undefined;
    const reason = message ?? result.opt("cancel_reason", str).cancel_reason;
    return {
      ended: reason ?? (compactRevision > 0 ? "mvcc: required revision has been compacted" : "canceled"),
      compactRevision,
    };
  }
  return { events: result.req("events", orElse(arrayOf(watchEvent), [])) };
};

export const JSON_HEADERS = { "Content-Type": "application/json" };

/**
 * POSTs `body` as JSON to `endpoint` + `path` and decodes the answer. Rejects with WEAVE_STATE when
 * etcd answers an error, or something that is not JSON of the expected shape (etcd answered: trying
 * another endpoint would not help), and with WEAVE_TIMEOUT when it cannot be reached or stays
 * silent for `timeoutMs` (`unreachable`), or answers that it cannot serve now ({@link answeredUnavailable}).
 */
export async function etcdPost<T>(
  http: HttpTransport,
  endpoint: string,
  path: string,
  body: unknown,
  decoder: Decoder<T>,
  timeoutMs: number,
): Promise<T> {
  let res: HttpResponse;
  try {
    res = await http.request({
      target: { origin: endpoint },
      method: "POST",
      path,
      headers: JSON_HEADERS,
      body: JSON.stringify(body),
      timeoutMs,
    });
  } catch (err) {
    throw unreachable(endpoint, path, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(res.body);
  } catch {
    throw new WeaveError(
      "WEAVE_STATE",
      `etcd ${endpoint}${path} answered ${res.status}: ${res.body.slice(0, 200)}`,
    );
  }
  const failure = decodeJson(
    "WEAVE_STATE",
    `etcd ${endpoint}${path} answered ${res.status}`,
    { value },
    gatewayError,
  );
  if (res.status >= 400 || failure.error) {
    const why = failure.message || failure.error || res.body;
    if (res.status === 503 || failure.code === GRPC_UNAVAILABLE) {
      // A member without a leader (an election), or one that lost it during the request.
      throw markUnavailable(
        new WeaveError("WEAVE_TIMEOUT", `etcd ${endpoint}${path} cannot serve now: ${why}`),
      );
    }
    throw new WeaveError("WEAVE_STATE", `etcd ${path} failed: ${why}`);
  }
  return decodeJson(
    "WEAVE_STATE",
    `etcd ${endpoint}${path} answered an unexpected shape`,
    { value },
    decoder,
  );
}

/** gRPC's UNAVAILABLE, etcd's code for "no leader", "leader changed", "request timed out"... */
const GRPC_UNAVAILABLE = 14;
/** The errors of etcdPost that are an etcd member's answer that it cannot serve now. */
const unavailableAnswers = new WeakSet<Error>();

/** Marks `err` as an etcd member's answer that it cannot serve now (see {@link answeredUnavailable}). */
export function markUnavailable(err: WeaveError): WeaveError {
  unavailableAnswers.add(err);
  return err;
}

/**
 * True when `err` (from {@link etcdPost} or a gRPC call) is an etcd member's answer that it cannot serve now
 * (HTTP 503, gRPC UNAVAILABLE: no leader, leader changed, request timed out): a transient state of
 * that member during an election, worth asking another member or again shortly. It is a
 * WEAVE_TIMEOUT, as for an endpoint that cannot be reached.
 */
export const answeredUnavailable = (err: unknown): boolean =>
  err instanceof Error && unavailableAnswers.has(err);

/** The gateway's error fields: `error` (text, or truthy in any form), `message` and `code` (gRPC's). */
const gatewayError: Decoder<{ error: string; message: string; code: number }> = (v, at) => {
  const f = fields(v, at);
  const error: unknown = f.req("error", anything);
  const message: unknown = f.req("message", anything);
  const code: unknown = f.req("code", anything);
  return {
    error: typeof error === "string" ? error : error ? JSON.stringify(error) : "",
    message: typeof message === "string" ? message : "",
    code: typeof code === "number" ? code : 0,
  };
};

/** TLS alerts by which a server refuses the client's certificate (or its absence). */
const CLIENT_CERT_REFUSED =
  /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)$/;
/** Node's codes for a server certificate that does not verify. */
const SERVER_CERT_BAD =
  /^(UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)/;

/**
 * A transport failure of a request to `endpoint` + `path` (silence, refused, reset, TLS) as a
 * WEAVE_TIMEOUT that says what went wrong where.
 */
export function unreachable(endpoint: string, path: string, err: unknown): WeaveError {
  if (isHttpTimeout(err))
    return new WeaveError("WEAVE_TIMEOUT", `etcd ${endpoint}${path}: ${err.message}`, { cause: err });
  if (err instanceof WeaveError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = "code" in e && typeof e.code === "string" ? e.code : "";
  // OpenSSL errors carry a one-line `reason`; their message is a long line of internals.
  const reason: unknown = "reason" in e ? e.reason : undefined;
  const why = typeof reason === "string" && reason !== "" ? reason : e.message.trim();
  const fail = (message: string) => new WeaveError("WEAVE_TIMEOUT", message, { cause: err });
  if (CLIENT_CERT_REFUSED.test(code))
    return fail(
      `etcd at ${endpoint} refused the TLS connection (${why}): it wants a client certificate signed by a CA it trusts, and weave sent none or one it does not accept`,
    );
  if (SERVER_CERT_BAD.test(code))
    return fail(
      `Cannot verify the TLS certificate of etcd at ${endpoint} (${why}): give the CA that signed it, and check the certificate is for this address`,
    );
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_"))
    return fail(`TLS with etcd at ${endpoint} failed: ${why}`);
  if (e.message === "socket hang up" && endpoint.startsWith("http:"))
    return fail(`Cannot reach etcd at ${endpoint}: ${why} (an etcd that serves TLS does this to plain HTTP)`);
  return fail(`Cannot reach etcd at ${endpoint}: ${why}`);
}
