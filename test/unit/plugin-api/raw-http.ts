/**
 * A raw HTTP/1.1 client on one unix-socket connection, for tests of connection handling: it writes
 * exactly the bytes it is given, when it is told, and reads responses with a Content-Length.
 */
import { connect, type Socket } from "node:net";

/** One parsed response. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** A POST as Docker sends it: no Content-Type, the body with its length. */
export function dockerRequest(path: string, body = "{}\n"): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: plugin.moby.localhost\r\n` +
    `Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** A connection whose responses are read in order; `closed` resolves when the server closes it. */
export class RawConnection {
  readonly socket: Socket;
  /** Resolves with the ms from connect to close. */
  readonly closed: Promise<number>;
  private buf = "";
  private waiters: ((r: RawResponse) => void)[] = [];
  private readonly started = Date.now();

  private constructor(path: string) {
    this.socket = connect(path);
    this.socket.setEncoding("utf8");
    this.socket.on("error", () => undefined); // resets show up as 'close'
    this.socket.on("data", (d: string) => {
      this.buf += d;
      this.parse();
    });
    this.closed = new Promise((resolve) =>
      this.socket.once("close", () => resolve(Date.now() - this.started)),
    );
  }

  /** Connects to the unix socket at `path`. */
  static async open(path: string): Promise<RawConnection> {
    const c = new RawConnection(path);
    await new Promise<void>((resolve, reject) => {
      c.socket.once("connect", resolve);
      c.socket.once("error", reject);
    });
    return c;
  }

  /** Writes `text` as is. */
  write(text: string): void {
    this.socket.write(text);
  }

  /** Sends `request` and waits for the next response; rejects if the connection closes first. */
  async call(request: string): Promise<RawResponse> {
    const next = this.next();
    this.write(request);
    return next;
  }

  /** The next response; rejects if the connection closes first. */
  next(): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new Error("connection closed"));
        return;
      }
      this.waiters.push(resolve);
      this.socket.once("close", () => reject(new Error("connection closed before a response")));
    });
  }

  /** True while the connection is open. */
  get open(): boolean {
    return !this.socket.destroyed && !this.socket.readableEnded;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = this.buf.slice(0, end).split("\r\n");
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      const len = Number(headers.get("content-length") ?? "0");
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.slice(end + 4, end + 4 + len);
      this.buf = this.buf.slice(end + 4 + len);
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(lines[0] ?? "")?.[1] ?? "0");
      this.waiters.shift()?.({ status, headers, body });
    }
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
