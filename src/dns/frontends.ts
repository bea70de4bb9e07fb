/**
 * Socket front ends shared by the DnsServer and its UDP worker processes: they move bytes between
 * sockets and the pure Responder, and hand questions outside the zone to the Upstream.
 * Nothing thrown by a handler escapes: a bad packet never stops a socket.
 */
import type dgram from "node:dgram";
import type net from "node:net";
import { errorMessage, type Logger } from "../core/index.js";
import { ForwardRequest, type Responder } from "./responder.js";
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

  private onMessage(socket: dgram.Socket, local: string, msg: Buffer, port: number, address: string): void {
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
  /** Close a connection idle this long, ms; default 10,000. */
  idleTimeoutMs?: number | undefined;
  /** Open connections across all listeners; more are closed at once. Default 256. */
  maxConnections?: number | undefined;
  /** Forwarded queries in flight per connection before reading pauses; default 32. */
  maxPipelined?: number | undefined;
}

/**
 * Serves DNS over TCP (RFC 7766): 2-octet length framing, pipelined queries, replies in
 * completion order, an idle timeout and a bound on connections.
 */
export class TcpFrontend {
  private readonly errors: ErrorLog;
  private readonly idleMs: number;
  private readonly maxConns: number;
  private readonly maxPipelined: number;
  private readonly conns = new Set<net.Socket>();

  constructor(
    private readonly responder: Responder,
    private readonly upstream: Upstream,
    log: Logger,
    options: TcpFrontendOptions = {},
  ) {
    this.errors = new ErrorLog(log);
    this.idleMs = options.idleTimeoutMs ?? 10_000;
    this.maxConns = options.maxConnections ?? 256;
    this.maxPipelined = options.maxPipelined ?? 32;
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

  private onConnection(socket: net.Socket): void {
    socket.on("error", () => undefined); // resets are normal; 'close' follows
    if (this.conns.size >= this.maxConns) {
      socket.destroy();
      return;
    }
    this.conns.add(socket);
    socket.on("close", () => this.conns.delete(socket));
    socket.setNoDelay(true);
    socket.setTimeout(this.idleMs, () => socket.destroy());
    let buf: Buffer | undefined;
    let inFlight = 0;
    let writeBlocked = false;
    const maybeResume = (): void => {
      if (!writeBlocked && inFlight < this.maxPipelined && !socket.destroyed) socket.resume();
    };
    const send = (reply: Buffer): void => {
      if (socket.destroyed) return;
      const frame = Buffer.allocUnsafe(reply.length + 2);
      frame.writeUInt16BE(reply.length, 0);
      reply.copy(frame, 2);
      if (!socket.write(frame) && !writeBlocked) {
        writeBlocked = true;
        socket.pause();
        socket.once("drain", () => {
          writeBlocked = false;
          maybeResume();
        });
      }
    };
    const source = socket.remoteAddress ?? "";
    const local = socket.localAddress ?? "";
    const handle = (msg: Buffer): void => {
      const res = this.responder.respond(msg, true, source, local);
      if (res === null) return;
      if (!(res instanceof ForwardRequest)) {
        send(res);
        return;
      }
      if (++inFlight >= this.maxPipelined) socket.pause();
      this.upstream.forward(res.query, true, res.limit).then(
        (reply) => {
          inFlight--;
          send(this.responder.forwarded(res, reply));
          maybeResume();
        },
        (err: unknown) => {
          inFlight--;
          this.errors.report("DNS forwarding failed", err);
        },
      );
    };
    socket.on("data", (chunk: Buffer) => {
      try {
        buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
        let off = 0;
        while (buf.length - off >= 2) {
          const len = buf.readUInt16BE(off);
          if (buf.length - off - 2 < len) break;
          const msg = buf.subarray(off + 2, off + 2 + len);
          off += 2 + len;
          handle(msg);
        }
        buf = off >= buf.length ? undefined : buf.subarray(off);
      } catch (err) {
        this.errors.report("DNS TCP query failed", err);
        socket.destroy();
      }
    });
  }
}
