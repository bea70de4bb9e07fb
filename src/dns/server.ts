/**
 * weaveDNS server.
 *
 * Design note
 * - Data: the daemon owns one `Zone` and changes it through `zone.set(owner, entries)` /
 *   `zone.remove(owner)` (one owner per container). The server only reads it.
 * - Answering is the pure `Responder` (bytes in, bytes out), fronted by `UdpFrontend` and
 *   `TcpFrontend`. Names in the zone are answered from an encoded-response cache that is dropped
 *   when `zone.version` changes; other names go to the `Upstream` forwarder.
 * - Listening: only on the addresses the owner gives to `setAddresses` (bridge IPs as networks
 *   come and go), UDP and TCP on the same port; never on 0.0.0.0/:: (not an open resolver).
 *   Our own endpoints are excluded from forwarding, so we never query ourselves.
 * - Scaling: Node answers on one core. With `udpWorkers: N`, N child processes read the same UDP
 *   sockets (handles passed over IPC; the kernel gives each datagram to one reader), each with a
 *   zone replica kept current by ZoneChange broadcasts. TCP stays in this process. With
 *   `workersOnDemand`, they run only while the UDP query rate is high (WorkerDemand): an idle
 *   worker costs a Node process and a zone copy for nothing.
 */
import dgram from "node:dgram";
import type { EventEmitter } from "node:events";
import net from "node:net";
import { type ErrorCode, errorMessage, type Logger, type LogLevel, WeaveError } from "../core/index.js";
import { literalLookup, TcpFrontend, UdpFrontend } from "./frontends.js";
import { canonicalIp } from "./ip.js";
import type { Endpoint } from "./resolv-conf.js";
import { type QueryHook, Responder } from "./responder.js";
import { Upstream } from "./upstream.js";
import { WorkerDemand, type WorkerDemandOptions } from "./worker-demand.js";
import { WorkerScaler } from "./worker-scaler.js";
import { UdpWorkerPool } from "./workers.js";
import type { Zone } from "./zone.js";

/** Where and how questions outside the zone are forwarded. */
export interface DnsUpstreamOptions {
  /** Explicit servers (`--dns-upstream`): `ip`, `ip:port`, `[ipv6]:port`. Overrides resolv.conf. */
  servers?: readonly string[] | undefined;
  /** Default /etc/resolv.conf (followed: re-read at most once per second). */
  resolvConf?: string | undefined;
  /** Per-server timeout, ms; default 2000. */
  timeoutMs?: number | undefined;
  /** Forwarded queries in flight; default 1024. */
  maxInFlight?: number | undefined;
}

/** Settings of a DnsServer (all but `zone` and `logger` have defaults). */
export interface DnsServerOptions {
  zone: Zone;
  logger: Logger;
  /** UDP and TCP port; default 53. */
  port?: number | undefined;
  upstream?: DnsUpstreamOptions | undefined;
  /** Largest EDNS0 UDP response; default 4096. */
  maxUdpSize?: number | undefined;
  /** Encoded responses cached per size bucket; default 10,000. */
  cacheEntries?: number | undefined;
  /** Idle time between TCP queries before the connection is closed, ms; default 10,000. */
  tcpIdleTimeoutMs?: number | undefined;
  /** A TCP query must arrive whole within this of its first byte, ms; default 3,000. */
  tcpQueryTimeoutMs?: number | undefined;
  /** Open TCP connections in all; default 256. */
  maxTcpConnections?: number | undefined;
  /** Open TCP connections per listening address (network gateway); default 64. */
  maxTcpConnectionsPerAddress?: number | undefined;
  /** Open TCP connections per client address; default 8. */
  maxTcpConnectionsPerClient?: number | undefined;
  /** Extra processes sharing the UDP sockets; default 0 (this process only). */
  udpWorkers?: number | undefined;
  /**
   * Start the UDP workers only while the query rate is high, and stop them when it has been low
   * (thresholds: WorkerDemandOptions, `{}` for the defaults). Without it they run from start().
   */
  workersOnDemand?: WorkerDemandOptions | undefined;
  /** Log level of worker processes; default "info". */
  workerLogLevel?: LogLevel | undefined;
  /** Random source for shuffling (tests); workers always use Math.random. */
  random?: (() => number) | undefined;
  onQuery?: QueryHook | undefined;
}

interface Listener {
  ip: string;
  udp: dgram.Socket;
  tcp: net.Server;
}

function listenError(err: unknown, ip: string, port: number): WeaveError {
  const code = (err as { code?: unknown }).code;
  const where = `"${net.isIPv6(ip) ? `[${ip}]` : ip}:${port}"`;
  const map: Record<string, [ErrorCode, string]> = {
    EADDRINUSE: ["WEAVE_CONFLICT", "address already in use"],
    EACCES: ["WEAVE_PERMISSION", "permission denied"],
    EADDRNOTAVAIL: ["WEAVE_CONFIG", "address not on this host"],
  };
  const [c, text] = map[String(code)] ?? ["WEAVE_INTERNAL", errorMessage(err)];
  return new WeaveError(c, `Cannot listen for DNS on ${where}: ${text}`, { cause: err });
}

/** Resolves when `start` calls its callback (bound, listening); rejects with an error `socket` emits first. */
function listening(socket: EventEmitter, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    start(() => {
      socket.off("error", reject);
      resolve();
    });
  });
}

/** The weaveDNS server: `start()`, then `setAddresses()` whenever the set of bridge IPs changes. */
export class DnsServer {
  readonly zone: Zone;
  readonly port: number;
  private readonly log: Logger;
  private readonly responder: Responder;
  private readonly upstream: Upstream;
  private readonly udp: UdpFrontend;
  private readonly tcp: TcpFrontend;
  private readonly pool: UdpWorkerPool | undefined;
  private readonly scaler: WorkerScaler | undefined;
  private readonly listeners = new Map<string, Listener>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  /** The latest set asked for; background retries use it, never an older one. */
  private desired = new Set<string>();
  private retryMs = 2000;

  /** Throws WEAVE_CONFIG for an invalid port or upstream server. Opens nothing. */
  constructor(options: DnsServerOptions) {
    const port = options.port ?? 53;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new WeaveError("WEAVE_CONFIG", `Invalid DNS port ${port}: expected 1-65535`);
    }
    this.zone = options.zone;
    this.port = port;
    this.log = options.logger;
    const maxUdpSize = options.maxUdpSize ?? 4096;
    const cacheEntries = options.cacheEntries ?? 10_000;
    const up = options.upstream ?? {};
    this.upstream = new Upstream({ logger: this.log, ...up });
    this.responder = new Responder({
      zone: options.zone,
      maxUdpSize,
      cacheEntries,
      ...(options.random ? { random: options.random } : {}),
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    });
    this.udp = new UdpFrontend(this.responder, this.upstream, this.log);
    this.tcp = new TcpFrontend(this.responder, this.upstream, this.log, {
      idleTimeoutMs: options.tcpIdleTimeoutMs,
      queryTimeoutMs: options.tcpQueryTimeoutMs,
      maxConnections: options.maxTcpConnections,
      maxConnectionsPerAddress: options.maxTcpConnectionsPerAddress,
      maxConnectionsPerClient: options.maxTcpConnectionsPerClient,
    });
    const workers = options.udpWorkers ?? 0;
    if (workers > 0) {
      this.pool = new UdpWorkerPool({
        count: workers,
        zone: options.zone,
        logger: this.log,
        onQuery: options.onQuery,
        config: {
          domain: options.zone.domain,
          ttl: options.zone.ttl,
          maxUdpSize,
          cacheEntries,
          logLevel: options.workerLogLevel ?? "info",
          upstream: {
            servers: [...(up.servers ?? [])],
            resolvConf: up.resolvConf,
            timeoutMs: up.timeoutMs ?? 2000,
            maxInFlight: up.maxInFlight ?? 1024,
          },
        },
      });
      const onDemand = options.workersOnDemand;
      if (onDemand !== undefined) {
        const pool = this.pool;
        this.scaler = new WorkerScaler({
          pool,
          demand: new WorkerDemand(onDemand),
          queries: () => this.udp.datagrams + pool.queries,
          logger: this.log,
        });
      }
    }
  }

  /**
   * Starts the UDP workers (if any; on demand: starts watching the query rate); listening starts
   * with `setAddresses`. Aborting `signal` closes the server. Rejects with WEAVE_TIMEOUT when a
   * worker does not start within 15 s.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const stop = (): void => {
      this.close().catch((err: unknown) =>
        this.log.error("Cannot close the DNS server", { err: errorMessage(err) }),
      );
    };
    if (signal?.aborted) return stop();
    signal?.addEventListener("abort", stop, { once: true });
    if (this.scaler) this.scaler.start();
    else await this.pool?.start();
  }

  /** Worker processes running now (0 while on-demand workers are stopped). */
  runningWorkers(): number {
    return this.pool?.running ? this.pool.size : 0;
  }

  /** The addresses listened on now (canonical form). */
  addresses(): string[] {
    return [...this.listeners.keys()];
  }

  /**
   * Listens (UDP and TCP, `port`) on exactly `ips`: binds new ones, closes removed ones. Calls
   * are serialised. Throws WEAVE_CONFIG, changing nothing, for an invalid or unspecified address
   * (0.0.0.0, ::). When some binds fail, the others still take effect and the call rejects with
   * the first failure's code (WEAVE_CONFLICT in use, WEAVE_PERMISSION, WEAVE_CONFIG not local),
   * naming every failed address. Failed addresses are retried in the background (after 2 s,
   * doubling up to 30 s: an IPv6 address is unusable for a moment after it is added) until they
   * bind or a later call drops them.
   */
  setAddresses(ips: readonly string[]): Promise<void> {
    const wanted = new Set<string>();
    for (const ip of ips) {
      const [addr, scope] = ip.split("%", 2);
      const canon = canonicalIp(addr ?? "");
      if (canon === undefined || canon === "0.0.0.0" || canon === "::") {
        return Promise.reject(
          new WeaveError("WEAVE_CONFIG", `Cannot listen for DNS on "${ip}": not a unicast IP address`),
        );
      }
      wanted.add(scope === undefined ? canon : `${canon}%${scope}`);
    }
    this.desired = wanted;
    this.retryMs = 2000;
    return this.enqueue(() => this.apply(wanted));
  }

  /** Stops listening, stops the workers and the forwarder. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    clearTimeout(this.retry);
    this.queue = this.queue.then(async () => {
      for (const ip of [...this.listeners.keys()]) await this.unbind(ip);
      this.tcp.closeAll();
      await this.scaler?.close();
      await this.pool?.close();
      await this.upstream.close();
    });
    return this.queue;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(wanted: Set<string>): Promise<void> {
    if (this.closed) throw new WeaveError("WEAVE_NOT_RUNNING", "The DNS server is closed");
    const before = this.addresses().join(" ");
    for (const ip of [...this.listeners.keys()]) if (!wanted.has(ip)) await this.unbind(ip);
    const failures: WeaveError[] = [];
    for (const ip of wanted) {
      if (this.listeners.has(ip)) continue;
      try {
        await this.bind(ip);
      } catch (err) {
        failures.push(err instanceof WeaveError ? err : listenError(err, ip, this.port));
      }
    }
    const own: Endpoint[] = [...this.listeners.keys()].map((address) => ({ address, port: this.port }));
    this.upstream.setOwnEndpoints(own);
    this.pool?.setOwnEndpoints(own);
    if (this.addresses().join(" ") !== before) {
      this.log.info("DNS listening", { addresses: this.addresses(), port: this.port });
    }
    clearTimeout(this.retry);
    this.retry = undefined;
    if (failures.length > 0) {
      const delay = this.retryMs;
      this.retryMs = Math.min(delay * 2, 30_000);
      this.retry = setTimeout(() => {
        this.enqueue(() => this.apply(this.desired)).catch((err: unknown) =>
          this.log.debug("DNS listen retry failed", { err: errorMessage(err) }),
        );
      }, delay);
      this.retry.unref();
    }
    const first = failures[0];
    if (first) {
      const msg = failures.length === 1 ? first.message : failures.map((f) => f.message).join("; ");
      throw new WeaveError(first.code, msg, { cause: first });
    }
  }

  private async bind(ip: string): Promise<void> {
    const v6 = net.isIPv6(ip.split("%")[0] ?? "");
    const udp = dgram.createSocket({
      type: v6 ? "udp6" : "udp4",
      lookup: literalLookup,
      recvBufferSize: 1 << 20, // absorbs bursts; the kernel caps it at net.core.rmem_max
    });
    const tcp = net.createServer();
    try {
      await listening(udp, (done) => udp.bind({ address: ip, port: this.port, exclusive: true }, done));
      await listening(tcp, (done) => tcp.listen({ host: ip, port: this.port, exclusive: true }, done));
    } catch (err) {
      udp.close();
      throw listenError(err, ip, this.port);
    }
    this.udp.attach(udp);
    this.tcp.attach(tcp);
    this.listeners.set(ip, { ip, udp, tcp });
    this.pool?.addSocket(ip, udp);
  }

  private async unbind(ip: string): Promise<void> {
    const l = this.listeners.get(ip);
    if (!l) return;
    this.listeners.delete(ip);
    this.pool?.removeSocket(ip);
    // Stop accepting at once; open connections end by idle timeout, or by closeAll in close().
    l.tcp.close();
    await new Promise<void>((resolve) => l.udp.close(() => resolve()));
  }
}
