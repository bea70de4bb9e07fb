/**
 * etcd's Range over gRPC (HTTP/2, node:http2: no gRPC stack, no dependency), for EtcdStore's
 * listings; why, in etcd-proto.ts. One HTTP/2 session per endpoint, reused by the pages of a listing
 * and closed after IDLE_MS without a request, or on close().
 *
 * Failures are those of the JSON gateway (etcd-wire.ts), so EtcdStore fails over the same way:
 * - no connection, TLS refused, silence for `timeoutMs`: WEAVE_TIMEOUT ("cannot reach", via
 *   `unreachable`); a stalled session is destroyed, not reused;
 * - etcd answers UNAVAILABLE (no leader, an election): WEAVE_TIMEOUT marked `answeredUnavailable`;
 * - etcd answers another gRPC error (a compacted revision...): WEAVE_STATE with etcd's message;
 * - the endpoint does not speak gRPC (not HTTP/2, another HTTP status or content type, no
 *   grpc-status): WEAVE_UNSUPPORTED ({@link notGrpc}): the store then lists through the gateway.
 */
import type { IncomingHttpHeaders } from "node:http2";
import { connect, constants, type ClientHttp2Session, type SecureClientSessionOptions } from "node:http2";
import { WeaveError, errorMessage, httpTimeout } from "../core/index.js";
import {
  decodeRangeResponse,
  encodeRangeRequest,
  grpcFrame,
  grpcMessages,
  type RangeRequest,
  type RangeResponse,
} from "./etcd-proto.js";
import { markUnavailable, unreachable } from "./etcd-wire.js";

export const RANGE_PATH = "/etcdserverpb.KV/Range";
/**
 * HTTP/2 flow-control window, of each stream and of the connection: how much etcd may send before
 * weave acknowledges it. HTTP/2's default, 64 KiB, would make a page of 5,000 keys (about 1.5 MB)
 * take some 25 round trips: 250 ms per page to an etcd 10 ms away. weave reads what arrives at once.
 */
const WINDOW_BYTES = 8 * 1024 * 1024;
/** A session with no request for this long is closed. */
const IDLE_MS = 10_000;
/** gRPC status codes etcd uses here. */
const GRPC_OK = 0;
const GRPC_UNAVAILABLE = 14;

/** True for an endpoint that answered, but not in gRPC: use the JSON gateway there. */
export const notGrpc = (err: unknown): boolean =>
  err instanceof WeaveError && err.code === "WEAVE_UNSUPPORTED";

export class EtcdGrpc {
  private readonly sessions = new Map<string, ClientHttp2Session>();

  /** `tls`: for https:// endpoints (PEM contents: ca, cert, key). */
  constructor(private readonly tls: SecureClientSessionOptions = {}) {}

  /** One Range on `endpoint`; rejects as the header comment says. */
  async range(endpoint: string, req: RangeRequest, timeoutMs: number): Promise<RangeResponse> {
    const body = await this.call(endpoint, RANGE_PATH, grpcFrame(encodeRangeRequest(req)), timeoutMs);
    const [message, ...rest] = grpcMessages(body);
    if (!message || rest.length > 0)
      throw new WeaveError(
        "WEAVE_STATE",
        `etcd ${endpoint}${RANGE_PATH} answered ${rest.length + (message ? 1 : 0)} messages, not 1`,
      );
    return decodeRangeResponse(message);
  }

  close(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private session(endpoint: string): ClientHttp2Session {
    const open = this.sessions.get(endpoint);
    if (open && !open.closed && !open.destroyed) return open;
    const settings = { initialWindowSize: WINDOW_BYTES };
    const session = connect(endpoint, { ...(endpoint.startsWith("https:") ? this.tls : {}), settings });
    session.once("connect", () => session.setLocalWindowSize(WINDOW_BYTES));
    session.on("error", () => this.forget(endpoint, session)); // each request reports its own failure
    session.on("close", () => this.forget(endpoint, session));
    session.setTimeout(IDLE_MS, () => session.close());
    session.unref(); // an idle listing connection does not keep the daemon alive
    this.sessions.set(endpoint, session);
    return session;
  }

  private forget(endpoint: string, session: ClientHttp2Session): void {
    if (this.sessions.get(endpoint) === session) this.sessions.delete(endpoint);
  }

  /** One unary gRPC call: the response body, once grpc-status says OK. */
  private call(endpoint: string, path: string, frame: Buffer, timeoutMs: number): Promise<Buffer> {
    const session = this.session(endpoint);
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const headers = new Map<string, string>();
      const keep = (h: IncomingHttpHeaders) => {
        for (const [name, v] of Object.entries(h)) if (v !== undefined) headers.set(name, String(v));
      };
      let settled = false;
      const finish = (err: Error | undefined, body?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(body ?? Buffer.alloc(0));
      };
      const timer = setTimeout(() => {
        // A silent endpoint: the session may be stalled; the next request connects anew.
        this.forget(endpoint, session);
        session.destroy();
        finish(unreachable(endpoint, path, httpTimeout(timeoutMs)));
      }, timeoutMs);
      let stream;
      try {
        stream = session.request({
          [constants.HTTP2_HEADER_METHOD]: "POST",
          [constants.HTTP2_HEADER_PATH]: path,
          [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          te: "trailers",
        });
      } catch (err) {
        finish(this.failure(endpoint, path, err));
        return;
      }
      stream.on("response", keep);
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("trailers", keep);
      stream.on("error", (err) => finish(this.failure(endpoint, path, err)));
      stream.on("close", () => {
        if (settled) return;
        const status = Number(headers.get(constants.HTTP2_HEADER_STATUS) ?? 0);
        const type = headers.get(constants.HTTP2_HEADER_CONTENT_TYPE) ?? "";
        const grpcStatus = headers.get("grpc-status");
        if (status !== 200 || !type.startsWith("application/grpc") || grpcStatus === undefined) {
          finish(
            new WeaveError(
              "WEAVE_UNSUPPORTED",
              `etcd ${endpoint}${path} does not answer gRPC (HTTP ${status || "none"}, ${type || "no content type"})`,
            ),
          );
          return;
        }
        const code = Number(grpcStatus);
        if (code === GRPC_OK) {
          finish(undefined, Buffer.concat(chunks));
          return;
        }
        const message = decodeGrpcMessage(headers.get("grpc-message") ?? "");
        if (code === GRPC_UNAVAILABLE) {
          finish(
            markUnavailable(
              new WeaveError("WEAVE_TIMEOUT", `etcd ${endpoint}${path} cannot serve now: ${message}`),
            ),
          );
          return;
        }
        finish(new WeaveError("WEAVE_STATE", `etcd ${path} failed: ${message || `gRPC status ${code}`}`));
      });
      stream.end(frame);
    });
  }

  /** A stream or session failure: not HTTP/2 at all is "not gRPC"; the rest is "cannot reach". */
  private failure(endpoint: string, path: string, err: unknown): WeaveError {
    const code = err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : "";
    if (code === "ERR_HTTP2_ERROR" || code === "ERR_HTTP2_SESSION_ERROR" || code === "ERR_HTTP2_STREAM_ERROR")
      if (/protocol|PROTOCOL_ERROR|HTTP_1_1_REQUIRED/i.test(errorMessage(err)))
        return new WeaveError(
          "WEAVE_UNSUPPORTED",
          `etcd ${endpoint}${path} does not answer gRPC: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
    // A request made while the session connects fails with "The pending stream has been canceled"
    // and the session's failure (refused, TLS...) as its cause: that cause says what went wrong.
    const cause = err instanceof Error ? err.cause : undefined;
    return unreachable(
      endpoint,
      path,
      code === "ERR_HTTP2_STREAM_CANCEL" && cause instanceof Error ? cause : err,
    );
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
