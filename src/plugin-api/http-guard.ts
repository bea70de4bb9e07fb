/**
 * HTTP servers for the plugin and control sockets whose keep-alive handling cannot race with the
 * client, with a deadline per request and a bound on connections.
 *
 * Design note
 * - Docker's plugin client (Go net/http, no IdleConnTimeout) reuses an idle kept-alive connection
 *   whenever it likes. If the server closes that connection at the same moment (Node's default
 *   `keepAliveTimeout` of 5 s), the call breaks after its body was sent, and Docker retries it with
 *   an EMPTY body (its request body is a drained buffer). So an idle connection is never timed out
 *   here (`keepAliveTimeout = 0`): it is closed only after a response that says `Connection: close`,
 *   or by the client.
 * - Deadlines use Node's own request timers, checked every `checkIntervalMs`: a request (headers and
 *   body) must arrive within `requestDeadlineMs` of its first byte. On a fresh connection Node counts
 *   from the connect, so a connection that sends nothing is closed too (with a 408). Both timers only
 *   run while a request is being received: neither a slow handler nor an idle kept-alive connection
 *   is cut (checked on Node 20.20: `headersTimeout`/`requestTimeout` apply to the parser's active
 *   message only, and `keepAliveTimeout = 0` arms no idle timer; with the default of 5 s Node
 *   closes an idle connection after 6 s). One residual case: Go's Transport may park a connection
 *   it dialed for a call that another connection served first; it sits silent like an idle one
 *   and is closed by the deadline with a 408, which Go reads as "server closed idle connection".
 * - Load shedding never closes a connection under a client that may be about to reuse it:
 *   while more than `keepAliveConnections` are open, every response carries `Connection: close`, so
 *   connections drain as calls complete. Only past `maxConnections` does a new connection evict
 *   waiting ones (down to the limit), chosen in this order: a connection that has not completed a request within
 *   `evictAfterMs` of connecting (Docker writes its request right after connecting; one sitting
 *   there is a stuck or hostile client), then the connection idle the longest after a response
 *   (Go keeps at most 2 idle connections per host and reuses the most recently used one first, and
 *   under pressure Docker's newer connections were already answered with `Connection: close`).
 *   When no connection may be evicted the new one is still served: refusing it could break a call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "../core/index.js";

/** Limits of a guarded HTTP server; times in ms. */
export interface HttpLimits {
  /** A whole request (headers and body) must arrive within this of its first byte. */
  requestDeadlineMs: number;
  /** How often Node checks the request deadlines (the deadline's granularity). */
  checkIntervalMs: number;
  /** Above this many open connections, responses say `Connection: close`. */
  keepAliveConnections: number;
  /** Above this many open connections, a new one evicts waiting ones (see the module note). */
  maxConnections: number;
  /** A connection is evicted only after waiting this long for a request. */
  evictAfterMs: number;
}

/**
 * Limits of the plugin socket. Docker's calls are a few hundred bytes written at once, and Docker
 * keeps a handful of connections (about one per concurrent call, at most 2 idle).
 */
export const PLUGIN_HTTP_LIMITS: Readonly<HttpLimits> = {
  requestDeadlineMs: 10_000,
  checkIntervalMs: 1_000,
  keepAliveConnections: 32,
  maxConnections: 128,
  evictAfterMs: 1_000,
};

/** Limits of the control socket (the weave command: one call per connection). */
export const CONTROL_HTTP_LIMITS: Readonly<HttpLimits> = {
  requestDeadlineMs: 10_000,
  checkIntervalMs: 1_000,
  keepAliveConnections: 16,
  maxConnections: 64,
  evictAfterMs: 1_000,
};

/** How often (ms) an eviction is logged at most. */
const EVICTION_LOG_EVERY_MS = 10_000;

interface ConnState {
  /** No request has completed its headers on this connection yet. */
  fresh: boolean;
  /** Requests received and not yet answered. */
  busy: number;
  /** When the connection last started waiting for a request (connect or end of a response). */
  since: number;
}

/** Counters of a guarded server (for tests and logs). */
export interface GuardStats {
  open: number;
  evicted: number;
  closedByResponse: number;
}

/** A guarded HTTP server; see the module note. */
export interface GuardedServer {
  server: Server;
  stats: () => GuardStats;
}

/**
 * Creates an HTTP server for `handler` with the limits above. Listening is the caller's job.
 * `now` is the clock used for eviction ages (ms).
 */
export function createGuardedServer(
  limits: Readonly<HttpLimits>,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  logger: Logger,
  now: () => number = Date.now,
): GuardedServer {
  const server = createServer({ connectionsCheckingInterval: limits.checkIntervalMs });
  server.keepAliveTimeout = 0; // never close an idle kept-alive connection (module note)
  server.timeout = 0;
  server.headersTimeout = limits.requestDeadlineMs;
  server.requestTimeout = limits.requestDeadlineMs;
  const conns = new Map<Socket, ConnState>();
  const counts = { evicted: 0, closedByResponse: 0 };
  let lastLog = Number.NEGATIVE_INFINITY;

  /** Evicts waiting connections until at most `maxConnections` are open, or none may go. */
  const evict = (): void => {
    const before = counts.evicted;
    while (conns.size > limits.maxConnections) {
      const victim = pickVictim(conns, now() - limits.evictAfterMs);
      if (victim === undefined) break;
      conns.delete(victim);
      victim.destroy();
      counts.evicted++;
    }
    if (counts.evicted > before && now() - lastLog >= EVICTION_LOG_EVERY_MS) {
      lastLog = now();
      logger.warning("Too many open connections: closed waiting ones", {
        open: conns.size,
        max: limits.maxConnections,
        evicted: counts.evicted,
      });
    }
  };

  server.on("connection", (socket: Socket) => {
    conns.set(socket, { fresh: true, busy: 0, since: now() });
    socket.once("close", () => conns.delete(socket));
    if (conns.size > limits.maxConnections) evict();
  });
  // Registered before `handler`, so the header is set before any response is written.
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const state = conns.get(req.socket);
    if (state !== undefined) {
      state.fresh = false;
      state.busy++;
      res.once("close", () => {
        state.busy--;
        state.since = now();
      });
    }
    if (conns.size > limits.keepAliveConnections) {
      res.setHeader("Connection", "close");
      counts.closedByResponse++;
    }
  });
  server.on("request", handler);
  return {
    server,
    stats: () => ({ open: conns.size, ...counts }),
  };
}

/** The connection to evict (module note), among those waiting since before `cutoff`. */
function pickVictim(conns: Map<Socket, ConnState>, cutoff: number): Socket | undefined {
  let best: [Socket, ConnState] | undefined;
  for (const entry of conns) {
    const s = entry[1];
    if (s.busy > 0 || s.since > cutoff) continue;
    if (best === undefined) {
      best = entry;
      continue;
    }
    const b = best[1];
    // Fresh before kept-alive; among equals, the longest waiting.
    if ((s.fresh && !b.fresh) || (s.fresh === b.fresh && s.since < b.since)) best = entry;
  }
  return best?.[0];
}
