/**
 * Forwarding of questions outside the weave domain to upstream servers.
 *
 * Servers come from an explicit list (`--dns-upstream`, `ip` or `ip:port`) or, by default, from
 * the host's resolv.conf, which is re-read at most once per second when a query needs it (so a
 * change is followed without a background timer). Servers that would loop back to weaveDNS are
 * dropped (see `withoutLoops`). Each server gets `timeoutMs` (default 2 s) before the next one
 * is tried; a SERVFAIL/REFUSED/NOTIMP reply also moves on. The last server that answered is
 * tried first next time.
 *
 * UDP queries leave from one socket per address family with a fresh random ID; replies are
 * matched on ID, source address and port, and question, so off-path junk is ignored. Queries
 * go over TCP when the client came over TCP, and are retried over TCP when a UDP reply is
 * truncated. At most `maxInFlight` (default 1024) client queries are forwarded at once.
 */
import dgram from "node:dgram";
import { readFile as fsReadFile } from "node:fs/promises";
import net from "node:net";
import { errorMessage, type Logger } from "../core/index.js";
import { Rcode, skipName } from "./codec.js";
import {
  type Endpoint,
  formatEndpoint,
  parseEndpoint,
  parseResolvConf,
  withoutLoops,
} from "./resolv-conf.js";

/** Settings of the forwarder. */
export interface UpstreamOptions {
  logger: Logger;
  /** Explicit servers (`ip`, `ip:port`, `[ipv6]:port`); when non-empty, resolv.conf is not used. */
  servers?: readonly string[] | undefined;
  /** Default /etc/resolv.conf. */
  resolvConf?: string | undefined;
  /** Per-server timeout in ms; default 2000. */
  timeoutMs?: number | undefined;
  /** Client queries forwarded at once; default 1024. More get SERVFAIL at once. */
  maxInFlight?: number | undefined;
  /** Port for tests; default fs.promises.readFile (utf8). */
  readFile?: ((path: string) => Promise<string>) | undefined;
  /** Clock in ms; default Date.now. */
  now?: (() => number) | undefined;
}

interface Pending {
  server: Endpoint;
  question: string;
  resolve: (reply: Buffer | undefined) => void;
  timer: NodeJS.Timeout;
}

interface UdpClient {
  socket: dgram.Socket;
  pending: Map<number, Pending>;
}

const MAX_TCP_MESSAGE = 65_535;

/** Lower-cased question octets of a message (for matching replies), or undefined. */
function questionKey(msg: Buffer): string | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const end = skipName(msg, 12);
  if (end < 0 || end + 4 > msg.length) return undefined;
  return msg.toString("latin1", 12, end + 4).toLowerCase();
}

/** True when `reply` answers `question` (or is an error reply without a question section). */
function matches(reply: Buffer, question: Buffer | string | undefined): boolean {
  const want = typeof question === "string" ? question : question && questionKey(question);
  const got = questionKey(reply);
  return got === undefined ? ((reply[3] as number) & 0xf) !== 0 : got === want;
}

/** The forwarder. `close()` answers everything pending with undefined. */
export class Upstream {
  private readonly log: Logger;
  private readonly explicit: Endpoint[] | undefined;
  private readonly resolvConf: string;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly readFile: (path: string) => Promise<string>;
  private readonly now: () => number;
  private own: Endpoint[] = [];
  private fromFile: Endpoint[] = [];
  private fileText: string | undefined;
  private lastCheck = -Infinity;
  private refreshing: Promise<void> | undefined;
  private preferred = 0;
  private inFlight = 0;
  private closed = false;
  private readonly udp = new Map<4 | 6, UdpClient>();
  private readonly tcp = new Set<net.Socket>();

  /** Throws WEAVE_CONFIG for an invalid explicit server. */
  constructor(options: UpstreamOptions) {
    this.log = options.logger;
    const list = options.servers ?? [];
    this.explicit = list.length > 0 ? list.map((s) => parseEndpoint(s)) : undefined;
    this.resolvConf = options.resolvConf ?? "/etc/resolv.conf";
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxInFlight = options.maxInFlight ?? 1024;
    this.readFile = options.readFile ?? ((p) => fsReadFile(p, "utf8"));
    this.now = options.now ?? Date.now;
  }

  /** Tells the forwarder where weaveDNS itself listens, so it never forwards there. */
  setOwnEndpoints(endpoints: readonly Endpoint[]): void {
    this.own = [...endpoints];
  }

  /** The servers queries go to now (re-reading resolv.conf when it was last read ≥ 1 s ago). */
  async servers(): Promise<Endpoint[]> {
    if (this.explicit) return withoutLoops(this.explicit, this.own, false);
    if (this.now() - this.lastCheck >= 1000) {
      this.lastCheck = this.now();
      this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    }
    if (this.refreshing) await this.refreshing;
    return withoutLoops(this.fromFile, this.own, true);
  }

  /**
   * Forwards `query` (a client's message; its ID is restored in the reply) and resolves to the
   * first usable reply, the last error reply, or undefined when no server answered in time.
   * `clientLimit` is the largest reply the client takes (a TCP retry bigger than that is not
   * used). Never rejects.
   */
  async forward(query: Buffer, viaTcp: boolean, clientLimit: number): Promise<Buffer | undefined> {
    if (this.closed || this.inFlight >= this.maxInFlight || query.length < 12) return undefined;
    this.inFlight++;
    try {
      const servers = await this.servers();
      const clientId = query.readUInt16BE(0);
      let fallback: Buffer | undefined;
      const start = this.preferred < servers.length ? this.preferred : 0;
      for (let i = 0; i < servers.length && !this.closed; i++) {
        const index = (start + i) % servers.length;
        const server = servers[index] as Endpoint;
        let reply = viaTcp ? await this.tcpExchange(server, query) : await this.udpExchange(server, query);
        if (reply && !viaTcp && ((reply[2] as number) & 0x02) !== 0) {
          const full = await this.tcpExchange(server, query);
          if (full && full.length <= clientLimit) reply = full;
        }
        if (!reply) continue;
        const rcode = (reply[3] as number) & 0xf;
        if (rcode === Rcode.SERVFAIL || rcode === Rcode.REFUSED || rcode === Rcode.NOTIMP) {
          fallback = reply;
          continue;
        }
        this.preferred = index;
        reply.writeUInt16BE(clientId, 0);
        return reply;
      }
      fallback?.writeUInt16BE(clientId, 0);
      return fallback;
    } catch (err) {
      this.log.warning("DNS forwarding failed", { err: errorMessage(err) });
      return undefined;
    } finally {
      this.inFlight--;
    }
  }

  /** Closes the sockets; pending forwards resolve to undefined. */
  async close(): Promise<void> {
    this.closed = true;
    for (const client of this.udp.values()) {
      for (const p of client.pending.values()) {
        clearTimeout(p.timer);
        p.resolve(undefined);
      }
      client.pending.clear();
      await new Promise<void>((resolve) => client.socket.close(() => resolve()));
    }
    this.udp.clear();
    for (const s of this.tcp) s.destroy();
    this.tcp.clear();
  }

  private async refresh(): Promise<void> {
    let text: string;
    try {
      text = await this.readFile(this.resolvConf);
    } catch (err) {
      text = "";
      if (this.fileText !== "") {
        this.log.warning("Cannot read resolv.conf; no upstream DNS servers", {
          path: this.resolvConf,
          err: errorMessage(err),
        });
      }
    }
    if (text === this.fileText) return;
    this.fileText = text;
    this.fromFile = parseResolvConf(text);
    this.preferred = 0;
    this.log.info("DNS upstream servers", {
      path: this.resolvConf,
      servers: this.fromFile.map(formatEndpoint),
    });
  }

  private udpClient(server: Endpoint): UdpClient {
    const family = net.isIP(server.address.split("%")[0] ?? "") === 6 ? 6 : 4;
    let client = this.udp.get(family);
    if (client) return client;
    const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
    const pending = new Map<number, Pending>();
    client = { socket, pending };
    socket.on("error", (err) => this.log.warning("DNS upstream socket error", { err: errorMessage(err) }));
    socket.on("message", (msg, rinfo) => {
      if (msg.length < 12 || ((msg[2] as number) & 0x80) === 0) return;
      const p = pending.get(msg.readUInt16BE(0));
      if (!p || rinfo.port !== p.server.port || rinfo.address !== p.server.address) return;
      if (!matches(msg, p.question)) return;
      pending.delete(msg.readUInt16BE(0));
      clearTimeout(p.timer);
      p.resolve(msg);
    });
    socket.unref();
    this.udp.set(family, client);
    return client;
  }

  private udpExchange(server: Endpoint, query: Buffer): Promise<Buffer | undefined> {
    const question = questionKey(query);
    if (question === undefined) return Promise.resolve(undefined);
    const { socket, pending } = this.udpClient(server);
    let id = -1;
    for (let tries = 0; tries < 16 && id < 0; tries++) {
      const candidate = Math.floor(Math.random() * 65536);
      if (!pending.has(candidate)) id = candidate;
    }
    if (id < 0) return Promise.resolve(undefined);
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      pending.set(id, { server, question, resolve, timer });
      socket.send(out, server.port, server.address, (err) => {
        if (!err || pending.get(id)?.timer !== timer) return;
        pending.delete(id);
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  }

  private tcpExchange(server: Endpoint, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const id = Math.floor(Math.random() * 65536);
      const frame = Buffer.allocUnsafe(query.length + 2);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      frame.writeUInt16BE(id, 2);
      const socket = net.connect({ host: server.address, port: server.port });
      this.tcp.add(socket);
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (reply: Buffer | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.tcp.delete(socket);
        socket.destroy();
        resolve(reply);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      socket.on("connect", () => socket.write(frame));
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length > MAX_TCP_MESSAGE + 2) return finish(undefined);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (buf.length < len + 2) return;
        const reply = Buffer.from(buf.subarray(2, len + 2));
        finish(
          reply.length >= 12 && reply.readUInt16BE(0) === id && matches(reply, query) ? reply : undefined,
        );
      });
      socket.on("error", () => finish(undefined));
      socket.on("close", () => finish(undefined));
    });
  }
}
