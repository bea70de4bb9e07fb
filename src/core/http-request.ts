/**
 * The HTTP port: how the Docker Engine client (unix socket) and the etcd store (http:// and https://
 * endpoints) reach their servers. Protocol code builds a plain `HttpRequest` and reads a plain
 * response, so it can be tested against `ScriptedHttp` (beside this file) without a socket.
 *
 * Failure contract of both methods: a timeout rejects with WeaveError WEAVE_TIMEOUT "no answer within
 * N ms" (`isHttpTimeout`); an abort through `signal` rejects with the signal's reason; any other
 * transport failure (refused, reset, TLS) rejects with the socket's own Error, untranslated, so that
 * the caller, which knows what it was talking to, can say what failed (its `code`, and an OpenSSL
 * `reason`, are kept). An HTTP status of 400 or more is an answer, not a failure.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions } from "node:https";
import { WeaveError, isWeaveError } from "./errors.js";

/** Where a request goes: a unix socket (Docker's) or an `http://` / `https://` origin (etcd's). */
export type HttpTarget = { socketPath: string } | { origin: string };

export interface HttpRequest {
  target: HttpTarget;
  method: string;
  /** Path and query, e.g. "/v1.41/networks?filters=...". */
  path: string;
  headers?: Record<string, string>;
  /** Sent with a Content-Length header. */
  body?: string;
  /**
   * Idle timeout in ms: a request fails when no byte moves for this long; a stream only until its
   * response starts (then silence is normal). 0 waits for ever.
   */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The whole body as UTF-8 text. */
  body: string;
}

export interface HttpStream {
  status: number;
  headers: Record<string, string>;
  /**
   * The body as UTF-8 text chunks, split anywhere. Iteration ends when the server ends the body and
   * throws when the connection fails or closes first, or when `signal` aborts.
   */
  body: AsyncIterable<string>;
}

/** The port. Implementations: `createNodeHttp` (node:http / node:https) and `ScriptedHttp` (tests). */
export interface HttpTransport {
  /** One exchange; resolves with the whole response. Never blocks the event loop. */
  request(req: HttpRequest): Promise<HttpResponse>;
  /** Resolves once the response starts; its body then arrives chunk by chunk (Docker's /events, etcd's watch). */
  stream(req: HttpRequest): Promise<HttpStream>;
}

/** The error a transport rejects with when `timeoutMs` passes in silence. */
export function httpTimeout(timeoutMs: number): WeaveError {
  return new WeaveError("WEAVE_TIMEOUT", `no answer within ${timeoutMs} ms`);
}

/** True for the rejection of a request that timed out (see `httpTimeout`). */
export function isHttpTimeout(err: unknown): err is WeaveError {
  return isWeaveError(err, "WEAVE_TIMEOUT");
}

/** How a request or stream is seen in logs and tests: `POST http://h:2379/v3/kv/range`. */
export function describeRequest(req: Pick<HttpRequest, "target" | "method" | "path">): string {
  const where = "socketPath" in req.target ? `unix:${req.target.socketPath}:` : req.target.origin;
  return `${req.method} ${where}${req.path}`;
}

/**
 * The non-empty, trimmed lines of a chunked text body (newline-delimited JSON), however the chunks
 * split them. A last line without its newline is dropped, as a line cut off mid-way.
 */
export async function* textLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of chunks) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line !== "") yield line;
    }
  }
}

/** Collects a chunked body as one text. */
export async function readText(chunks: AsyncIterable<string>): Promise<string> {
  let text = "";
  for await (const chunk of chunks) text += chunk;
  return text;
}

/** PEM contents for `https://` origins: `ca` verifies servers, `cert` + `key` authenticate the client. */
export interface NodeHttpTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The real transport; `close` frees the sockets its https agent keeps alive. */
export interface NodeHttp extends HttpTransport {
  close(): void;
}

/**
 * The transport over node:http and node:https. With `tls`, `https://` requests go through one
 * keep-alive Agent built from it (it throws as node:https does on unusable PEM); plain `http://` and
 * unix socket requests use Node's global agent.
 */
export function createNodeHttp(options: { tls?: NodeHttpTls } = {}): NodeHttp {
  let agent: HttpsAgent | undefined;
  if (options.tls) {
    const agentOptions: AgentOptions = { keepAlive: true };
    if (options.tls.ca !== undefined) agentOptions.ca = options.tls.ca;
    if (options.tls.cert !== undefined) agentOptions.cert = options.tls.cert;
    if (options.tls.key !== undefined) agentOptions.key = options.tls.key;
    agent = new HttpsAgent(agentOptions);
  }
  return {
    request: (req) =>
      new Promise((resolve, reject) => {
        send(req, agent, reject, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flatHeaders(res), body }));
          res.on("error", reject);
        });
      }),
    stream: (req) =>
      new Promise((resolve, reject) => {
        const sent = send(req, agent, reject, (res) => {
          sent.setTimeout(0); // From here silence is normal: the caller watches liveness itself.
          res.setEncoding("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: flatHeaders(res),
            body: chunksOf(res, req.signal),
          });
        });
      }),
    close: () => agent?.destroy(),
  };
}

/** The default transport, without TLS options: Docker's socket, plain http:// endpoints. */
export const nodeHttp: HttpTransport = createNodeHttp();

function send(
  req: HttpRequest,
  agent: HttpsAgent | undefined,
  reject: (err: unknown) => void,
  onResponse: (res: IncomingMessage) => void,
) {
  // end(body) sends a Content-Length header: Node measures the body before the headers go.
  const options: RequestOptions = {
    method: req.method,
    path: req.path,
    headers: { ...req.headers },
    timeout: req.timeoutMs,
  };
  if (req.signal) options.signal = req.signal;
  let secure = false;
  if ("socketPath" in req.target) options.socketPath = req.target.socketPath;
  else {
    const url = new URL(req.target.origin);
    // URL keeps the brackets of an IPv6 host; the socket wants the bare address.
    options.host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    options.port = url.port;
    secure = url.protocol === "https:";
    if (secure && agent) options.agent = agent;
  }
  const sent = secure ? httpsRequest(options, onResponse) : httpRequest(options, onResponse);
  sent.on("timeout", () => sent.destroy(httpTimeout(req.timeoutMs)));
  sent.on("error", (err) => reject(req.signal?.aborted ? req.signal.reason : err));
  sent.end(req.body);
  return sent;
}

/** The body of a streamed response; a close before its end throws, as a reset would. */
async function* chunksOf(res: IncomingMessage, signal: AbortSignal | undefined): AsyncGenerator<string> {
  try {
    // A Readable's iterator throws on an error or a premature close and ends on 'end'.
    for await (const chunk of res) yield typeof chunk === "string" ? chunk : String(chunk);
  } catch (err) {
    throw signal?.aborted ? signal.reason : err;
  }
}

function flatHeaders(res: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}
