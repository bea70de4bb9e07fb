/**
 * One watch of EtcdStore: a long-lived streaming POST /v3/watch to one endpoint, and the liveness
 * checks that notice when that endpoint stalls (see the design note of etcd-store.ts). It ends once,
 * with `onError`, or by `close`. A start revision etcd has compacted away ends it with WatchCompacted
 * (etcd cancels such a watch with `compact_revision` set), so the owner lists again at once.
 */
import type { HttpStream, HttpTransport } from "../core/index.js";
import { WeaveError, decodeJson, errorMessage, readText, textLines, toWeaveError } from "../core/index.js";
import type { Watch, WatchEvent } from "./cluster-store.js";
import { WatchCompacted, prefixEnd } from "./cluster-store.js";
import type { WatchMessage } from "./etcd-wire.js";
import { JSON_HEADERS, anyAnswer, b64, etcdPost, unreachable, watchMessage } from "./etcd-wire.js";

export interface EtcdWatchOptions {
  http: HttpTransport;
  endpoint: string;
  prefix: string;
  /** The first revision to report (inclusive). */
  fromRevision: number;
  /** Until etcd answers the watch request, and for each liveness check (at most watchCheckMs), in ms. */
  timeoutMs: number;
  /** Interval of the liveness checks, in ms. */
  watchCheckMs: number;
  onEvent: (e: WatchEvent) => void;
  onError: (err: Error) => void;
  /** The endpoint failed (unreachable, or two checks in a row): the owner's next attempt goes elsewhere. */
  avoidEndpoint: () => void;
  /** Called when the watch stops, by `close` or after `onError`. */
  onStopped: () => void;
}

const WATCH = "/v3/watch";

export class EtcdWatch implements Watch {
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Liveness checks failed in a row. */
  private failures = 0;
  private readonly abort = new AbortController();

  constructor(private readonly o: EtcdWatchOptions) {}

  /** Sends the watch request and starts the liveness checks; never blocks. */
  start(): void {
    this.scheduleCheck();
    void this.run();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.o.onStopped();
    this.abort.abort();
  }

  /** Ends the watch with `err` (once; nothing after `close`). */
  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.o.onError(err);
  }

  private avoid(): void {
    if (!this.closed) this.o.avoidEndpoint();
  }

  private async run(): Promise<void> {
    const { endpoint, prefix } = this.o;
    let res: HttpStream;
    try {
      res = await this.o.http.stream({
        target: { origin: endpoint },
        method: "POST",
        path: WATCH,
        headers: JSON_HEADERS,
        body: JSON.stringify({
          create_request: {
            key: b64(prefix),
            range_end: b64(prefixEnd(prefix)),
            start_revision: String(this.o.fromRevision),
          },
        }),
        // From the answer on, silence is normal; the liveness checks notice a stall.
        timeoutMs: this.o.timeoutMs,
        signal: this.abort.signal,
      });
    } catch (err) {
      this.avoid();
      this.fail(unreachable(endpoint, WATCH, err));
      return;
    }
    if (res.status >= 400) {
      const text = await readText(res.body).catch(() => "");
      this.fail(
        new WeaveError(
          "WEAVE_STATE",
          `etcd ${endpoint}${WATCH} answered ${res.status}: ${text.slice(0, 200)}`,
        ),
      );
      return;
    }
    try {
      for await (const line of textLines(res.body)) {
        this.handle(line); // Once the watch has ended, its aborted body ends this loop.
      }
      this.fail(new WeaveError("WEAVE_STATE", `etcd at ${endpoint} closed the watch`));
    } catch (err) {
      const why = `Lost the watch connection to etcd at ${endpoint}: ${errorMessage(err)}`;
      this.fail(new WeaveError("WEAVE_TIMEOUT", why, { cause: err }));
    }
  }

  /** One message of the stream: its events go to onEvent in order, or it ends the watch. */
  private handle(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.fail(
        new WeaveError("WEAVE_STATE", `etcd sent a watch message that is not JSON: ${line.slice(0, 100)}`),
      );
      return;
    }
    let msg: WatchMessage;
    try {
      msg = decodeJson(
        "WEAVE_STATE",
        "etcd sent a watch message of an unexpected shape",
        { value },
        watchMessage,
      );
    } catch (err) {
      this.fail(toWeaveError(err, "WEAVE_STATE"));
      return;
    }
    if ("ended" in msg) {
      if (msg.compactRevision > 0)
        this.fail(new WatchCompacted(this.o.prefix, this.o.fromRevision, msg.compactRevision));
      else this.fail(new WeaveError("WEAVE_STATE", `etcd watch ended: ${msg.ended}`));
      return;
    }
    for (const e of msg.events) {
      if (this.closed) return;
      try {
        this.o.onEvent(e);
      } catch (err) {
        this.fail(
          toWeaveError(err, "WEAVE_INTERNAL", `The handler of the watch of "${this.o.prefix}" failed`),
        );
      }
    }
  }

  private scheduleCheck(): void {
    // After a failure, confirm at once rather than a whole interval later.
    const delay = this.failures > 0 ? 0 : this.o.watchCheckMs;
    this.timer = setTimeout(() => void this.check(), delay);
    this.timer.unref();
  }

  /** A cheap linearizable count-only read on the watch's endpoint; two failures in a row end the watch. */
  private async check(): Promise<void> {
    const { endpoint, prefix } = this.o;
    const probe = { key: b64(prefix), count_only: true };
    try {
      await etcdPost(
        this.o.http,
        endpoint,
        "/v3/kv/range",
        probe,
        anyAnswer,
        Math.min(this.o.timeoutMs, this.o.watchCheckMs),
      );
      this.failures = 0;
    } catch (err) {
      if (++this.failures >= 2) {
        this.avoid();
        this.fail(
          new WeaveError(
            "WEAVE_TIMEOUT",
            `etcd at ${endpoint} failed 2 liveness checks in a row, ending the watch of "${prefix}": ${errorMessage(err)}`,
            { cause: err },
          ),
        );
      }
    }
    if (!this.closed) this.scheduleCheck();
  }
}
