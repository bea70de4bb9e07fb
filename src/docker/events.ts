/**
 * Docker's event stream, kept open: GET /events as newline-delimited JSON over the unix socket.
 * On any disconnect it reconnects with back-off (100 ms doubling to 2 s) and `since` the last event
 * seen, so events that happened meanwhile are replayed; replays are de-duplicated on
 * (Actor.ID, Action, timeNano). Events are hints, not truth: `onConnect` runs on every (re)connect
 * so the owner can list and reconcile.
 */
import type { HttpStream, HttpTransport, Logger } from "../core/index.js";
import { decodeJson, errorMessage, nodeHttp, textLines } from "../core/index.js";
import { DOCKER_API_VERSION } from "./client.js";
import * as decode from "./decode.js";
import type { DockerEvent } from "./types.js";

export interface EventStreamOptions {
  socketPath: string;
  filters: Record<string, string[]>;
  logger: Logger;
  onEvent: (event: DockerEvent) => void;
  onConnect: () => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How the stream is requested (default: node:http). */
  http?: HttpTransport;
}

const SEEN_LIMIT = 4096;

export class DockerEventStream {
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastNano = 0;
  private backoff: number;
  private readonly seen = new Set<string>();
  private readonly http: HttpTransport;
  connected = false;

  constructor(private readonly o: EventStreamOptions) {
    this.backoff = o.minBackoffMs ?? 100;
    this.http = o.http ?? nodeHttp;
  }

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  /** The query of the next connection: the filters, and `since` the last event once there is one. */
  private query(): string {
    const params = new URLSearchParams({ filters: JSON.stringify(this.o.filters) });
    if (this.lastNano > 0) {
      // timeNano does not fit a double exactly: ask from 1 ms earlier; replays are de-duplicated.
      const since = this.lastNano - 1e6;
      const sec = Math.floor(since / 1e9);
      params.set("since", `${sec}.${String(Math.floor(since - sec * 1e9)).padStart(9, "0")}`);
    }
    return params.toString();
  }

  private connect(): void {
    if (this.closed) return;
    const abort = new AbortController();
    this.abort = abort;
    this.http
      .stream({
        target: { socketPath: this.o.socketPath },
        method: "GET",
        path: `/${DOCKER_API_VERSION}/events?${this.query()}`,
        timeoutMs: 0,
        signal: abort.signal,
      })
      .then(
        (res) => this.follow(res),
        (err: unknown) => this.retry(errorMessage(err)),
      )
      .catch((err: unknown) => this.retry(errorMessage(err)));
  }

  /** Reads one connection's events until it ends or fails, then schedules the next connection. */
  private async follow(res: HttpStream): Promise<void> {
    if (res.status !== 200) {
      this.retry(`status ${res.status}`);
      return;
    }
    this.connected = true;
    this.backoff = this.o.minBackoffMs ?? 100;
    this.o.logger.debug("event stream connected", { since: this.lastNano });
    this.o.onConnect();
    try {
      for await (const line of textLines(res.body)) this.handleLine(line);
      this.retry("stream ended");
    } catch (err) {
      this.retry(errorMessage(err));
    }
  }

  private handleLine(line: string): void {
    let event: DockerEvent;
    try {
      event = decodeJson("WEAVE_DOCKER", "Docker event", line, decode.event);
    } catch (err) {
      this.o.logger.warning("ignoring an event that is not JSON or not of the expected shape", {
        line: line.slice(0, 200),
        error: errorMessage(err),
      });
      return;
    }
    const key = `${event.Actor.ID}|${event.Action}|${event.timeNano}`;
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
    this.abort?.abort();
    this.abort = undefined;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 2000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, wait);
    this.timer.unref();
  }
}
