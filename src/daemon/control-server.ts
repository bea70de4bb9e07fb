/**
 * The control API the CLI talks to: JSON over HTTP on a unix socket in the run directory
 * (mode 0600: root only). Read-only views, DNS record changes and a stop request.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Logger } from "../core/index.js";
import { errorMessage, isWeaveError } from "../core/index.js";
import {
  CONTROL_HTTP_LIMITS,
  createGuardedServer,
  type GuardStats,
  type HttpLimits,
  listenUnix,
  removeSocket,
} from "../plugin-api/index.js";

export interface ControlRequest {
  query: URLSearchParams;
  body: unknown;
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

const MAX_BODY = 64 * 1024;

export class ControlServer {
  private readonly server: Server;
  /** Open connections and what load shedding did (see plugin-api/http-guard.ts). */
  readonly stats: () => GuardStats;

  /** `limits` defaults to CONTROL_HTTP_LIMITS: a request deadline and a bound on connections. */
  constructor(
    private readonly socketPath: string,
    routes: Record<string, ControlHandler>,
    logger: Logger,
    limits: Readonly<HttpLimits> = CONTROL_HTTP_LIMITS,
  ) {
    const guarded = createGuardedServer(
      limits,
      (req, res) => {
        const url = new URL(req.url ?? "/", "http://weave");
        const key = `${req.method ?? "GET"} ${url.pathname}`;
        const handler = routes[key];
        const send = (status: number, body: unknown) => {
          const text = JSON.stringify(body);
          res.writeHead(status, {
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(text),
          });
          res.end(text);
        };
        if (!handler) {
          req.resume();
          send(404, { error: `No such control call "${key}"` });
          return;
        }
        readJson(req)
          .then((body) => handler({ query: url.searchParams, body }))
          .then(
            (body) => send(200, body),
            (err: unknown) => {
              const status = isWeaveError(err, "WEAVE_BAD_REQUEST")
                ? 400
                : isWeaveError(err, "WEAVE_NOT_FOUND")
                  ? 404
                  : 500;
              logger.warning("control call failed", { call: key, error: errorMessage(err) });
              send(status, {
                error: errorMessage(err),
                code: isWeaveError(err) ? err.code : "WEAVE_INTERNAL",
              });
            },
          );
      },
      logger,
    );
    this.server = guarded.server;
    this.stats = guarded.stats;
  }

  async start(): Promise<void> {
    await listenUnix(this.server, this.socketPath, 0o600, 0);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    removeSocket(this.socketPath);
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      text += d;
      if (text.length > MAX_BODY) req.destroy(new Error("request too large"));
    });
    req.on("end", () => {
      try {
        resolve(text === "" ? undefined : JSON.parse(text));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    req.on("error", reject);
  });
}
