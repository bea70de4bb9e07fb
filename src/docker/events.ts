/**
 * Docker's event stream, kept open: GET /events as newline-delimited JSON over the unix socket.
 * On any disconnect it reconnects with back-off (100 ms doubling to 2 s) and `since` the last event
 * seen, so events that happened meanwhile are replayed; replays are de-duplicated on
 * (Actor.ID, Action, timeNano). Events are hints, not truth: `onConnect` runs on every (re)connect
 * so the owner can list and reconcile.
 */
import { request, type ClientRequest } from "node:http";
import type { Logger } from "../core/index.js";
import { errorMessage, readLines } from "../core/index.js";
import { DOCKER_API_VERSION } from "./client.js";
import type { DockerEvent } from "./types.js";

export interface EventStreamOptions {
  socketPath: string;
  filters: Record<string, string[]>;
  logger: Logger;
  onEvent: (event: DockerEvent) => void;
  onConnect: () => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const SEEN_LIMIT = 4096;

export class DockerEventStream {
  private req: ClientRequest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastNano = 0;
  private backoff: number;
  private readonly seen = new Set<string>();
  connected = false;

  constructor(private readonly o: EventStreamOptions) {
    this.backoff = o.minBackoffMs ?? 100;
  }

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.req?.destroy();
  }

  private connect(): void {
    if (this.closed) return;
    const params = new URLSearchParams({ filters: JSON.stringify(this.o.filters) });
    if (this.lastNano > 0) {
      // timeNano does not fit a double exactly: ask from 1 ms earlier; replays are de-duplicated.
      const since = this.lastNano - 1e6;
      const sec = Math.floor(since / 1e9);
      params.set("since", `${sec}.${String(Math.floor(since - sec * 1e9)).padStart(9, "0")}`);
    }
    const req = request({
      socketPath: this.o.socketPath,
      path: `/${DOCKER_API_VERSION}/events?${params.toString()}`,
    });
    this.req = req;
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.retry(`status ${res.statusCode ?? 0}`);
        return;
      }
      this.connected = true;
      this.backoff = this.o.minBackoffMs ?? 100;
      this.o.logger.debug("event stream connected", { since: this.lastNano });
      this.o.onConnect();
      readLines(res, (line) => this.handleLine(line));
      res.on("end", () => this.retry("stream ended"));
      res.on("error", (err) => this.retry(errorMessage(err)));
    });
    req.on("error", (err) => this.retry(errorMessage(err)));
    req.end();
  }

  private handleLine(line: string): void {
    let event: DockerEvent;
    try {
      event = JSON.parse(line) as DockerEvent;
    } catch {
      this.o.logger.warning("ignoring an event that is not JSON", { line: line.slice(0, 200) });
      return;
    }
    const key = `${event.Actor?.ID ?? ""}|${event.Action}|${event.timeNano}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.seen.size > SEEN_LIMIT) {
      const first = this.seen.values().next().value;
      if (first !== undefined) this.seen.delete(first);
    }
    if (event.timeNano > this.lastNano) this.lastNano = event.timeNano;
    try {
      this.o.onEvent(event);
    } catch (err) {
      this.o.logger.error("event handler failed", { error: errorMessage(err) });
    }
  }

  private retry(reason: string): void {
    if (this.closed || this.timer) return;
    if (this.connected) this.o.logger.info("event stream lost; reconnecting", { reason });
    this.connected = false;
    this.req?.destroy();
    this.req = undefined;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 2000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, wait);
    this.timer.unref();
  }
}
