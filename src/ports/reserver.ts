/**
 * Holding published host ports, as docker-proxy does: weave keeps a listening TCP socket (or a bound
 * UDP socket) on each published address and port, so that no process on the host can take the port
 * while a container publishes it, and so that a port a process holds already is refused at
 * `docker run`. The sockets never see published traffic: nftables DNATs it before it reaches them. A
 * TCP connection that does reach one (e.g. to [::1], which cannot be DNATed) is closed at once.
 */
import { createSocket } from "node:dgram";
import type { Socket as UdpSocket } from "node:dgram";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { WeaveError } from "../core/index.js";
import type { PortBinding } from "./types.js";
import { describeBinding } from "./types.js";

/** The reservation port. */
export interface PortReserver {
  /**
   * Holds the binding's address and port (a no-op when already held). Rejects WEAVE_CONFLICT when a
   * process uses it, WEAVE_BAD_REQUEST when the address is not one of this host's.
   */
  reserve(b: PortBinding): Promise<void>;
  /** Lets it go (a no-op when not held). */
  release(b: PortBinding): Promise<void>;
  /** What is held. */
  held(): PortBinding[];
  /** Lets everything go (the daemon stops). */
  close(): Promise<void>;
}

export function reservationKey(b: PortBinding): string {
  return `${b.proto} ${b.family} ${b.hostIp} ${b.hostPort}`;
}

type Holder = { binding: PortBinding; close(): Promise<void> };

function translate(b: PortBinding, err: unknown): WeaveError {
  const code = (err as { code?: unknown }).code;
  const what = describeBinding(b);
  if (code === "EADDRINUSE") {
    return new WeaveError(
      "WEAVE_CONFLICT",
      `Cannot publish ${what}: the port is already in use on the host (address already in use)`,
      { cause: err },
    );
  }
  if (code === "EADDRNOTAVAIL") {
    return new WeaveError(
      "WEAVE_BAD_REQUEST",
      `Cannot publish ${what}: ${b.hostIp} is not an address of this host`,
      {
        cause: err,
      },
    );
  }
  return new WeaveError("WEAVE_DATAPLANE", `Cannot hold ${what}: ${String(err)}`, { cause: err });
}

function holdTcp(b: PortBinding): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const server: Server = createServer((conn) => conn.destroy());
    server.once("error", reject);
    server.listen({ host: b.hostIp, port: b.hostPort, exclusive: true, ipv6Only: b.family === 6 }, () => {
      server.off("error", reject);
      server.on("error", () => undefined);
      resolve(() => new Promise<void>((r) => server.close(() => r())));
    });
  });
}

function holdUdp(b: PortBinding): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const socket: UdpSocket = createSocket({
      type: b.family === 4 ? "udp4" : "udp6",
      ipv6Only: b.family === 6,
    });
    socket.once("error", (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: b.hostIp, port: b.hostPort, exclusive: true }, () => {
      socket.removeAllListeners("error");
      socket.on("error", () => undefined);
      resolve(() => new Promise<void>((r) => socket.close(() => r())));
    });
  });
}

/** The real reserver: sockets in this process. */
export class SocketPortReserver implements PortReserver {
  private readonly holders = new Map<string, Holder>();

  async reserve(b: PortBinding): Promise<void> {
    const key = reservationKey(b);
    if (this.holders.has(key)) return;
    try {
      const close = await (b.proto === "tcp" ? holdTcp(b) : holdUdp(b));
      this.holders.set(key, { binding: { ...b }, close });
    } catch (err) {
      throw translate(b, err);
    }
  }

  async release(b: PortBinding): Promise<void> {
    const key = reservationKey(b);
    const holder = this.holders.get(key);
    if (!holder) return;
    this.holders.delete(key);
    await holder.close();
  }

  held(): PortBinding[] {
    return [...this.holders.values()].map((h) => h.binding);
  }

  /** Releases everything (daemon shutdown). */
  async close(): Promise<void> {
    const all = [...this.holders.values()];
    this.holders.clear();
    await Promise.all(all.map((h) => h.close()));
  }
}

/** In-memory reserver for unit tests; `busy` plays ports held by processes on the host. */
export class FakePortReserver implements PortReserver {
  readonly busy = new Set<string>();
  private readonly holding = new Map<string, PortBinding>();

  async reserve(b: PortBinding): Promise<void> {
    const key = reservationKey(b);
    if (this.holding.has(key)) return;
    if (this.busy.has(`${b.proto} ${b.hostPort}`))
      throw translate(b, Object.assign(new Error("busy"), { code: "EADDRINUSE" }));
    this.holding.set(key, { ...b });
  }

  async release(b: PortBinding): Promise<void> {
    this.holding.delete(reservationKey(b));
  }

  held(): PortBinding[] {
    return [...this.holding.values()];
  }

  async close(): Promise<void> {
    this.holding.clear();
  }

  /** Keys of what is held, sorted (for assertions). */
  heldKeys(): string[] {
    return [...this.holding.keys()].sort();
  }
}
