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
 * - Deadlines are weave's own, not Node's (`headersTimeout`/`requestTimeout` are off): on a fresh
 *   connection Node counts from the connect, so it would close with a 408 a connection that never
 *   sent a byte, and Go's Transport parks such connections (one it dialed for a call another
 *   connection served first) and may reuse one at that very moment: the empty-body retry again.
 *   So a request's clock starts at its first byte (the socket's `bytesRead` moved since the
 *   connection became idle, checked every `checkIntervalMs`): headers and body must arrive within
 *   `requestDeadlineMs` of it. A slow handler is never cut, and a connection that sends nothing is
 *   only ever closed by eviction under pressure (below).
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
  /** How often the request deadlines are checked (the deadline's granularity). */
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
  /** `bytesRead` when it started waiting: more means a request has begun. */
  idleBytes: number;
  /** When the request being received sent its first byte (seen by a check), if one is. */
  startedAt: number | undefined;
  /** The request's body has been read to its end (its handler may still be running). */
  received: boolean;
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
  const server = createServer();
  server.keepAliveTimeout = 0; // never close an idle kept-alive connection (module note)
  server.timeout = 0;
  server.headersTimeout = 0; // deadlines are ours, from a request's first byte (module note)
  server.requestTimeout = 0;
  const guard = new ConnectionGuard(limits, logger, now);
  const checker = setInterval(() => guard.closeOverDeadline(), limits.checkIntervalMs);
  checker.unref();
  server.once("close", () => clearInterval(checker));
  server.on("connection", (socket: Socket) => guard.connected(socket));
  // Registered before `handler`, so the header is set before any response is written.
  server.on("request", (req: IncomingMessage, res: ServerResponse) => guard.request(req, res));
  server.on("request", handler);
  return { server, stats: () => guard.stats() };
}

/** The open connections of one server and what the limits do to them (module note). */
class ConnectionGuard {
  private readonly conns = new Map<Socket, ConnState>();
  private readonly counts = { evicted: 0, closedByResponse: 0 };
  private lastLog = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: Readonly<HttpLimits>,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  stats(): GuardStats {
    return { open: this.conns.size, ...this.counts };
  }

  /** Closes the connections whose request is over its deadline. */
  closeOverDeadline(): void {
    for (const [socket, state] of this.conns) {
      if (overDeadline(socket, state, this.now(), this.limits.requestDeadlineMs)) {
        this.conns.delete(socket);
        socket.destroy();
      }
    }
  }

  /** Tracks a new connection; past `maxConnections`, evicts waiting ones. */
  connected(socket: Socket): void {
    this.conns.set(socket, {
      fresh: true,
      busy: 0,
      since: this.now(),
      idleBytes: 0,
      startedAt: undefined,
      received: false,
    });
    socket.once("close", () => this.conns.delete(socket));
    if (this.conns.size > this.limits.maxConnections) this.evict();
  }

  /** Tracks a request until its response closes; says `Connection: close` past `keepAliveConnections`. */
  request(req: IncomingMessage, res: ServerResponse): void {
    const state = this.conns.get(req.socket);
    if (state !== undefined) {
      state.fresh = false;
      state.busy++;
      state.startedAt ??= this.now();
      state.received = false;
      req.once("end", () => (state.received = true));
      res.once("close", () => {
        state.busy--;
        state.since = this.now();
        state.idleBytes = req.socket.bytesRead;
        state.startedAt = undefined;
        state.received = true;
      });
    }
    if (this.conns.size > this.limits.keepAliveConnections) {
      res.setHeader("Connection", "close");
      this.counts.closedByResponse++;
    }
  }

  /** Evicts waiting connections until at most `maxConnections` are open, or none may go. */
  private evict(): void {
    const before = this.counts.evicted;
    while (this.conns.size > this.limits.maxConnections) {
      const victim = pickVictim(this.conns, this.now() - this.limits.evictAfterMs);
      if (victim === undefined) break;
      this.conns.delete(victim);
      victim.destroy();
      this.counts.evicted++;
    }
    if (this.counts.evicted > before && this.now() - this.lastLog >= EVICTION_LOG_EVERY_MS) {
      this.lastLog = this.now();
      this.logger.warning("Too many open connections: closed waiting ones", {
        open: this.conns.size,
        max: this.limits.maxConnections,
        evicted: this.counts.evicted,
      });
    }
  }
}

/**
 * True when the request `socket` is receiving began more than `deadlineMs` ago and has not arrived
 * whole (headers, or the body of a request whose handler waits for it). Marks a request's start
 * the first time it sees its bytes.
 */
function overDeadline(socket: Socket, state: ConnState, at: number, deadlineMs: number): boolean {
  if (state.busy > 0) {
    return !state.received && state.startedAt !== undefined && at - state.startedAt > deadlineMs;
  }
  if (socket.bytesRead <= state.idleBytes) return false; // waiting, not receiving
  state.startedAt ??= at;
  return at - state.startedAt > deadlineMs;
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
