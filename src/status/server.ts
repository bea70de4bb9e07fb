/**
 * The status server: read-only HTTP on `--status-addr` (loopback by default).
 *
 *   GET /             the status page (HTML with the SVG picture, reloaded every few seconds)
 *   GET /status.svg   the picture alone
 *   GET /status.json  the same JSON as `weave status --json`
 *   GET /metrics      Prometheus metrics, text format 0.0.4
 *
 * HEAD works on each. Views are built per request through injected functions, under a deadline.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress, Logger } from "../core/index.js";
import { errorMessage, formatListenAddress, WeaveError } from "../core/index.js";
import { EXPOSITION_CONTENT_TYPE } from "../metrics/index.js";
import { renderStatusPage } from "./page.js";
import type { StatusPicture } from "./picture.js";
import { renderStatusSvg } from "./svg.js";

export interface StatusServerOptions {
  /** Where to listen; port 0 picks a free port (see `address()`). */
  listen: ListenAddress;
  logger: Logger;
  /** The metrics exposition text (Registry.expose). */
  metrics: () => string;
  /** What `weave status --json` prints. */
  status: () => Promise<unknown>;
  /** What the picture shows. */
  picture: () => Promise<StatusPicture>;
  /** Deadline for building a view, in ms (default 15 000); past it the answer is a 503. */
  timeoutMs?: number;
  refreshSeconds?: number;
}

const HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

export class StatusServer {
  private readonly server: Server;

  constructor(private readonly o: StatusServerOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        o.logger.warning("status request failed", { path: req.url, error: errorMessage(err) });
        if (!res.headersSent) send(req, res, 500, "text/plain; charset=utf-8", "Internal error\n");
        else res.destroy();
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
  }

  /**
   * Starts listening. Rejects with WEAVE_CONFLICT when the address is in use, WEAVE_PERMISSION when
   * the port is privileged, WEAVE_CONFIG when the address is not local.
   */
  async start(): Promise<void> {
    const { host, port } = this.o.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this.server.off("listening", onListening);
        reject(listenError(err, this.o.listen));
      };
      const onListening = () => {
        this.server.off("error", onError);
        resolve();
      };
      this.server.once("error", onError);
      this.server.once("listening", onListening);
      this.server.listen({ host, port, exclusive: true });
    });
    this.server.on("error", (err) =>
      this.o.logger.warning("status server error", { error: errorMessage(err) }),
    );
  }

  /** The address listened on (with the real port when started with port 0). */
  address(): ListenAddress {
    const a = this.server.address() as AddressInfo | null;
    return a ? { host: a.address, port: a.port } : this.o.listen;
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method !== "GET" && req.method !== "HEAD") {
      req.resume();
      res.setHeader("Allow", "GET, HEAD");
      send(req, res, 405, "text/plain; charset=utf-8", `${req.method ?? "?"} is not allowed; use GET\n`);
      return;
    }
    req.resume();
    switch (path) {
      case "/metrics":
        send(req, res, 200, EXPOSITION_CONTENT_TYPE, this.o.metrics());
        return;
      case "/status.json": {
        const status = await this.view("status", this.o.status);
        if (status.ok) send(req, res, 200, "application/json", `${JSON.stringify(status.value, null, 2)}\n`);
        else send(req, res, 503, "text/plain; charset=utf-8", status.error);
        return;
      }
      case "/status.svg": {
        const picture = await this.view("picture", this.o.picture);
        if (picture.ok) send(req, res, 200, "image/svg+xml; charset=utf-8", renderStatusSvg(picture.value));
        else send(req, res, 503, "text/plain; charset=utf-8", picture.error);
        return;
      }
      case "/":
      case "/index.html": {
        const picture = await this.view("picture", this.o.picture);
        if (!picture.ok) {
          send(req, res, 503, "text/plain; charset=utf-8", picture.error);
          return;
        }
        res.setHeader("Content-Security-Policy", HTML_CSP);
        send(
          req,
          res,
          200,
          "text/html; charset=utf-8",
          renderStatusPage(picture.value, this.o.refreshSeconds),
        );
        return;
      }
      default:
        send(
          req,
          res,
          404,
          "text/plain; charset=utf-8",
          `No such page "${path}": try /, /metrics or /status.json\n`,
        );
    }
  }

  /** Builds a view under the deadline; a failure is logged and returned as text. */
  private async view<T>(
    what: string,
    build: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
    const ms = this.o.timeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WeaveError("WEAVE_TIMEOUT", `Building the ${what} took over ${ms} ms`)),
        ms,
      );
    });
    try {
      return { ok: true, value: await Promise.race([build(), deadline]) };
    } catch (err) {
      const error = `The ${what} is not available: ${errorMessage(err)}\n`;
      this.o.logger.warning("status view failed", { view: what, error: errorMessage(err) });
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function listenError(err: NodeJS.ErrnoException, at: ListenAddress): WeaveError {
  const where = `Cannot listen on the status address "${formatListenAddress(at)}" (--status-addr)`;
  const hint = 'change --status-addr, or give "" to turn the status server off';
  switch (err.code ?? "") {
    case "EADDRINUSE":
      return new WeaveError("WEAVE_CONFLICT", `${where}: address already in use; ${hint}`, { cause: err });
    case "EACCES":
      return new WeaveError("WEAVE_PERMISSION", `${where}: permission denied`, { cause: err });
    case "EADDRNOTAVAIL":
      return new WeaveError("WEAVE_CONFIG", `${where}: not an address of this host; ${hint}`, { cause: err });
    default:
      return new WeaveError("WEAVE_CONFIG", `${where}: ${err.message}`, { cause: err });
  }
}
