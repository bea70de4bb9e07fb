/**
 * The control API the CLI talks to: JSON over HTTP on a unix socket in the run directory
 * (mode 0600: root only). Read-only views plus a stop request.
 */
import { createServer, type Server } from "node:http";
import type { Logger } from "../core/index.js";
import { errorMessage } from "../core/index.js";
import { listenUnix, removeSocket } from "../plugin-api/index.js";

export type ControlHandler = () => Promise<unknown>;

export class ControlServer {
  private readonly server: Server;

  constructor(
    private readonly socketPath: string,
    routes: Record<string, ControlHandler>,
    logger: Logger,
  ) {
    this.server = createServer((req, res) => {
      const key = `${req.method ?? "GET"} ${(req.url ?? "/").split("?")[0] ?? "/"}`;
      const handler = routes[key];
      req.resume();
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(text),
        });
        res.end(text);
      };
      if (!handler) {
        send(404, { error: `No such control call "${key}"` });
        return;
      }
      handler().then(
        (body) => send(200, body),
        (err: unknown) => {
          logger.warning("control call failed", { call: key, error: errorMessage(err) });
          send(500, { error: errorMessage(err) });
        },
      );
    });
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
