/**
 * Socket front ends shared by the DnsServer and its UDP worker processes: they move bytes between
 * sockets and the pure Responder, and hand questions outside the zone to the Upstream.
 * Nothing thrown by a handler escapes: a bad packet never stops a socket.
 */
import type dgram from "node:dgram";
import type net from "node:net";
import { errorMessage, type Logger } from "../core/index.js";
import { ForwardRequest, type Responder } from "./responder.js";
import { TcpBudget } from "./tcp-budget.js";
import type { Upstream } from "./upstream.js";

/**
 * A dgram `lookup` that returns its input: we only ever send to and bind IP literals, and the
 * default (dns.lookup) costs a process.nextTick per packet sent.
 */
export function literalLookup(
  address: string,
  family: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, typeof family === "number" ? family : address.includes(":") ? 6 : 4);
}

/** The address a bound socket listens on ("" when it is not bound: every asker is then a stranger). */
function localAddress(socket: dgram.Socket): string {
  try {
    return socket.address().address;
  } catch {
    return "";
  }
}

/** Rate-limits repeated error logs to one per `everyMs`. */
class ErrorLog {
  private last = 0;
  private suppressed = 0;
  constructor(
    private readonly log: Logger,
    private readonly everyMs = 10_000,
  ) {}

  report(msg: string, err: unknown): void {
    const now = Date.now();
    if (now - this.last < this.everyMs) {
      this.suppressed++;
      return;
    }
    this.log.warning(msg, { err: errorMessage(err), suppressed: this.suppressed });
    this.last = now;
    this.suppressed = 0;
  }
}

/** Serves DNS over UDP sockets. */
export class UdpFrontend {
  private readonly errors: ErrorLog;
  private received = 0;

  constructor(
    private readonly responder: Responder,
    private readonly upstream: Upstream,
    log: Logger,
  ) {
    this.errors = new ErrorLog(log);
  }

  /** Starts answering datagrams that arrive on `socket` (already bound). */
  attach(socket: dgram.Socket): void {
    const local = localAddress(socket);
    socket.on("message", (msg, rinfo) => this.onMessage(socket, local, msg, rinfo.port, rinfo.address));
    socket.on("error", (err) => this.errors.report("DNS UDP socket error", err));
  }

  /** Datagrams received so far on every attached socket (the query rate of WorkerScaler). */
  get datagrams(): number {
    return this.received;
  }

  private onMessage(socket: dgram.Socket, local: string, msg: Buffer, port: number, address: string): void {
    this.received++;
    try {
      const res = this.responder.respond(msg, false, address, local);
      if (res === null) return;
      if (res instanceof ForwardRequest) this.forward(socket, res, port, address);
      else socket.send(res, port, address);
    } catch (err) {
      this.errors.report("DNS UDP query failed", err);
    }
  }

  private forward(socket: dgram.Socket, req: ForwardRequest, port: number, address: string): void {
    this.upstream.forward(req.query, false, req.limit).then(
      (reply) => {
        try {
          socket.send(this.responder.forwarded(req, reply), port, address);
        } catch (err) {
          // The socket was closed while the query was upstream (address removed, shutdown).
          if ((err as { code?: unknown }).code !== "ERR_SOCKET_DGRAM_NOT_RUNNING") {
            this.errors.report("DNS UDP reply failed", err);
          }
        }
      },
      (err: unknown) => this.errors.report("DNS forwarding failed", err),
    );
  }
}

/** Limits of the TCP front end. */
export interface TcpFrontendOptions {
  /** Close a connection with no traffic this long between queries, ms; default 10,000. */
  idleTimeoutMs?: number | undefined;
  /**
   * A query (its 2-octet length and the message) must arrive within this of its first byte, ms;
   * not extended by each byte, so a trickling client cannot hold a connection. Default 3,000.
   */
  queryTimeoutMs?: number | undefined;
  /** Open connections across all listeners; more are closed at once. Default 256. */
  maxConnections?: number | undefined;
  /** Open connections per listening address (one network's gateway); default 64. */
  maxConnectionsPerAddress?: number | undefined;
  /** Open connections per client address; default 8. */
  maxConnectionsPerClient?: number | undefined;
  /** Forwarded queries in flight per connection before reading pauses; default 32. */
  maxPipelined?: number | undefined;
}

/** Defaults of {@link TcpFrontendOptions}. */
export const TCP_FRONTEND_DEFAULTS = {
  idleTimeoutMs: 10_000,
  queryTimeoutMs: 3_000,
  maxConnections: 256,
  maxConnectionsPerAddress: 64,
  maxConnectionsPerClient: 8,
  maxPipelined: 32,
} as const;

/**
 * Serves DNS over TCP (RFC 7766): 2-octet length framing, pipelined queries, replies in
 * completion order, an idle timeout, a deadline per query, and connection budgets per client
 * address, per listening address and in all, so one client cannot starve the others. A
 * connection over a budget is closed at once (clients fall back to UDP or retry).
 */
export class TcpFrontend {
  private readonly errors: ErrorLog;
  private readonly refusals: ErrorLog;
  private readonly idleMs: number;
  private readonly queryMs: number;
  private readonly maxPipelined: number;
  private readonly budget: TcpBudget;
  private readonly conns = new Set<net.Socket>();

  constructor(
    private readonly responder: Responder,
    private readonly upstream: Upstream,
    log: Logger,
    options: TcpFrontendOptions = {},
  ) {
    const d = TCP_FRONTEND_DEFAULTS;
    this.errors = new ErrorLog(log);
    this.refusals = new ErrorLog(log);
    this.idleMs = options.idleTimeoutMs ?? d.idleTimeoutMs;
    this.queryMs = options.queryTimeoutMs ?? d.queryTimeoutMs;
    this.maxPipelined = options.maxPipelined ?? d.maxPipelined;
    this.budget = new TcpBudget({
      total: options.maxConnections ?? d.maxConnections,
      perAddress: options.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress,
      perClient: options.maxConnectionsPerClient ?? d.maxConnectionsPerClient,
    });
  }

  /** Starts serving connections accepted by `server`. */
  attach(server: net.Server): void {
    server.on("connection", (socket) => this.onConnection(socket));
    server.on("error", (err) => this.errors.report("DNS TCP listener error", err));
  }

  /** Destroys every open connection. */
  closeAll(): void {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }

  /** Open connections: in all, for listening address `local`, for client address `client`. */
  connections(local?: string, client?: string): { total: number; address: number; client: number } {
    return this.budget.count(local, client);
  }

  /** Takes the connection into the budgets, or closes it at once when one is exhausted. */
  private admit(socket: net.Socket): boolean {
    const local = socket.localAddress ?? "";
    const client = socket.remoteAddress ?? "";
    const refused = this.budget.acquire(local, client);
    if (refused !== undefined) {
      socket.destroy();
      const why = `${refused} budget exhausted (client ${client}, address ${local})`;
      this.refusals.report("DNS TCP connection refused", new Error(why));
      return false;
    }
    this.conns.add(socket);
    socket.on("close", () => {
      this.conns.delete(socket);
      this.budget.release(local, client);
    });
    return true;
  }

  private onConnection(socket: net.Socket): void {
    socket.on("error", () => undefined); // resets are normal; 'close' follows
    if (!this.admit(socket)) return;
    socket.setNoDelay(true);
    socket.setTimeout(this.idleMs, () => socket.destroy());
    new TcpConnection(socket, this.responder, this.upstream, this.errors, {
      queryMs: this.queryMs,
      maxPipelined: this.maxPipelined,
    }).serve();
  }
}

/**
 * One admitted DNS-over-TCP connection: reads length-framed queries, answers in completion order,
 * pauses reading while `maxPipelined` forwarded queries are in flight or the socket will not take
 * more, and closes the connection when a query started `queryMs` ago has not arrived whole.
 */
class TcpConnection {
  private buf: Buffer | undefined;
  private inFlight = 0;
  private writeBlocked = false;
  private deadline: NodeJS.Timeout | undefined;
  private readonly source: string;
  private readonly local: string;

  constructor(
    private readonly socket: net.Socket,
    private readonly responder: Responder,
    private readonly upstream: Upstream,
    private readonly errors: ErrorLog,
    private readonly limits: { queryMs: number; maxPipelined: number },
  ) {
    this.source = socket.remoteAddress ?? "";
    this.local = socket.localAddress ?? "";
  }

  serve(): void {
    this.socket.on("close", () => clearTimeout(this.deadline));
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
  }

  private onData(chunk: Buffer): void {
    try {
      this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
      const buf = this.buf;
      let off = 0;
      while (buf.length - off >= 2) {
        const len = buf.readUInt16BE(off);
        if (buf.length - off - 2 < len) break;
        const msg = buf.subarray(off + 2, off + 2 + len);
        off += 2 + len;
        this.handle(msg);
      }
      this.buf = off >= buf.length ? undefined : buf.subarray(off);
      if (this.buf === undefined) {
        clearTimeout(this.deadline);
        this.deadline = undefined;
      } else this.queryStarted(off > 0); // a new query began in this chunk when one ended in it
    } catch (err) {
      this.errors.report("DNS TCP query failed", err);
      this.socket.destroy();
    }
  }

  /** Starts the deadline of a query whose first byte just arrived (no-op if one runs). */
  private queryStarted(restart: boolean): void {
    if (restart) clearTimeout(this.deadline);
    else if (this.deadline !== undefined) return;
    this.deadline = setTimeout(() => {
      // While reading is paused on our side (replies pending), the client is not the slow one.
      if (this.writeBlocked || this.inFlight >= this.limits.maxPipelined) this.queryStarted(true);
      else this.socket.destroy();
    }, this.limits.queryMs);
  }

  private maybeResume(): void {
    if (!this.writeBlocked && this.inFlight < this.limits.maxPipelined && !this.socket.destroyed) {
      this.socket.resume();
    }
  }

  private send(reply: Buffer): void {
    if (this.socket.destroyed) return;
    const frame = Buffer.allocUnsafe(reply.length + 2);
    frame.writeUInt16BE(reply.length, 0);
    reply.copy(frame, 2);
    if (!this.socket.write(frame) && !this.writeBlocked) {
      this.writeBlocked = true;
      this.socket.pause();
      this.socket.once("drain", () => {
        this.writeBlocked = false;
        this.maybeResume();
      });
    }
  }

  private handle(msg: Buffer): void {
    const res = this.responder.respond(msg, true, this.source, this.local);
    if (res === null) return;
    if (!(res instanceof ForwardRequest)) {
      this.send(res);
      return;
    }
    if (++this.inFlight >= this.limits.maxPipelined) this.socket.pause();
    this.upstream.forward(res.query, true, res.limit).then(
      (reply) => {
        this.inFlight--;
        this.send(this.responder.forwarded(res, reply));
        this.maybeResume();
      },
      (err: unknown) => {
        this.inFlight--;
        this.errors.report("DNS forwarding failed", err);
        this.maybeResume();
      },
    );
  }
}
