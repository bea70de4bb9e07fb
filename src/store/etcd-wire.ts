/**
 * The wire side of EtcdStore: etcd's v3 JSON gateway encodings (base64 keys and values, int64 as
 * strings) and the translation of transport failures (refused, reset, TLS) into WEAVE_TIMEOUT errors
 * that say what went wrong where.
 */
import type { IncomingMessage } from "node:http";
import { WeaveError } from "../core/index.js";
import type { KeyValue } from "./cluster-store.js";

export interface RawKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}
export interface Header {
  revision?: string;
}

export const b64 = (s: string | Buffer): string =>
  (typeof s === "string" ? Buffer.from(s, "utf8") : s).toString("base64");
export const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, "base64").toString("utf8") : "");

export function toKv(raw: RawKv): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    lease: raw.lease && raw.lease !== "0" ? raw.lease : "",
  };
}

/** TLS alerts by which a server refuses the client's certificate (or its absence). */
const CLIENT_CERT_REFUSED =
  /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)$/;
/** Node's codes for a server certificate that does not verify. */
const SERVER_CERT_BAD =
  /^(UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)/;

/** A transport failure (refused, reset, TLS) as a WEAVE_TIMEOUT that says what went wrong where. */
export function unreachable(endpoint: string, err: Error): WeaveError {
  if (err instanceof WeaveError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? "";
  // OpenSSL errors carry a one-line `reason`; their message is a long line of internals.
  const reason = (err as { reason?: unknown }).reason;
  const why = typeof reason === "string" && reason !== "" ? reason : err.message.trim();
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
  if (err.message === "socket hang up" && endpoint.startsWith("http:"))
    return fail(`Cannot reach etcd at ${endpoint}: ${why} (an etcd that serves TLS does this to plain HTTP)`);
  return fail(`Cannot reach etcd at ${endpoint}: ${why}`);
}

/** Collects a whole response body as text. */
export function readBody(res: IncomingMessage, onText: (text: string) => void): void {
  let text = "";
  res.setEncoding("utf8");
  res.on("data", (d: string) => (text += d));
  res.on("end", () => onText(text));
}
