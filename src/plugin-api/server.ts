/**
 * The plugin protocol server: HTTP/1.1 over a unix socket. Every 200 carries a JSON body; errors
 * are mapped from WeaveError codes in one place. Request bodies are limited in size and parsed
 * leniently (Docker sends no Content-Type, and empty bodies for argument-less calls).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Logger } from "../core/index.js";
import { errorMessage, isWeaveError } from "../core/index.js";
import { createGuardedServer, type GuardStats, type HttpLimits, PLUGIN_HTTP_LIMITS } from "./http-guard.js";
import type { Route } from "./routes.js";
import { listenUnix, removeSocket } from "./unix-socket.js";
import { parseBody, Reader } from "./validate.js";

export const MAX_BODY_BYTES = 1 << 20;
export const PLUGIN_CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json";

/** Observes each call (for metrics); outcome is "ok", "error" or "not_found". */
export type CallObserver = (method: string, outcome: string, seconds: number) => void;

export interface PluginServerOptions {
  socketPath: string;
  socketMode: number;
  socketGid: number;
  routes: Map<string, Route>;
  logger: Logger;
  observe?: CallObserver;
  /** Connection limits and deadlines; default PLUGIN_HTTP_LIMITS (tests use shorter ones). */
  limits?: Readonly<HttpLimits>;
}

export class PluginServer {
  private readonly server: Server;
  /** Open connections and what load shedding did (see http-guard.ts). */
  readonly stats: () => GuardStats;

  constructor(private readonly options: PluginServerOptions) {
    // Keep-alive without an idle timeout, a deadline for receiving each request (never for
    // answering it: a Join may wait behind other work on its network), a bound on connections.
    const guarded = createGuardedServer(
      options.limits ?? PLUGIN_HTTP_LIMITS,
      (req, res) => void this.handle(req, res),
      options.logger,
    );
    this.server = guarded.server;
    this.stats = guarded.stats;
  }

  /** Starts listening; rejects with WEAVE_CONFLICT if another process owns the socket. */
  async start(): Promise<void> {
    const o = this.options;
    await listenUnix(this.server, o.socketPath, o.socketMode, o.socketGid);
  }

  /** Stops accepting, waits for in-flight calls (at most `graceMs`), removes the socket. */
  async close(graceMs = 5_000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.closeAllConnections();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
    removeSocket(this.options.socketPath);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const method = path.replace(/^\//, "");
    const route = this.options.routes.get(path);
    const log = this.options.logger;
    const finish = (status: number, body: unknown, outcome: string, error?: string): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "Content-Type": PLUGIN_CONTENT_TYPE,
        "Content-Length": Buffer.byteLength(text),
      });
      res.end(text);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.options.observe?.(route ? method : "unknown", outcome, seconds);
      const fields = { method, status, ms: Math.round(seconds * 1e4) / 10, ...(error ? { error } : {}) };
      if (outcome === "ok") log.info("plugin call", fields);
      else log.warning("plugin call failed", fields);
    };

    if (!route) {
      finish(404, { Err: `${method} is not implemented by weave` }, "not_found");
      req.resume();
      return;
    }
    const errField = route.iface === "IpamDriver" ? "Error" : "Err";
    if (req.method !== "POST") {
      finish(405, { Err: `${method} must be called with POST` }, "error", "method not allowed");
      req.resume();
      return;
    }
    let raw: string;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      finish(413, { Err: errorMessage(err) }, "error", errorMessage(err));
      return;
    }
    try {
      const reader = new Reader(method, parseBody(method, raw));
      const result = await route.handle(reader);
      finish(200, result ?? {}, "ok");
    } catch (err) {
      const message = errorMessage(err);
      if (isWeaveError(err, "WEAVE_BAD_REQUEST")) {
        // Non-200: Docker's client only reads "Err" on this path, whatever the interface.
        finish(400, { Err: message }, "error", message);
      } else {
        if (!isWeaveError(err)) log.error("unexpected error in plugin call", { method, err });
        // 200 with the interface's own error field, as libnetwork's remote proxies expect.
        finish(200, { [errField]: message }, "error", message);
      }
    }
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new Error(`Request body larger than ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", (err) => {
      if (!failed) reject(err);
    });
  });
}
