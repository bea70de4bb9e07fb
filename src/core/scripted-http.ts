/**
 * A scripted HttpTransport for unit tests: the test lists the requests it expects, each with a
 * canned answer (a response, a stream it feeds by hand, a transport failure or a timeout). Every
 * request is recorded; one that no expectation matches is rejected with an error naming it and the
 * pending expectations, and kept in `unexpected`, so a test that swallows the rejection (a fail-over,
 * a retry) still fails in `assertDone`.
 */
import { isDeepStrictEqual } from "node:util";
import type { HttpRequest, HttpResponse, HttpStream, HttpTransport } from "./http-request.js";
import { describeRequest, httpTimeout } from "./http-request.js";

/** A canned answer. `json` is sent as its JSON text; `status` defaults to 200. */
export type ScriptedAnswer =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string> }
  | { stream: ScriptedBody; status?: number; headers?: Record<string, string> }
  /** The transport fails with this error (a refused connection, a reset, a TLS alert...). */
  | { error: Error }
  /** The request times out at once, as the real transport does after `timeoutMs` of silence. */
  | { timeout: true }
  /** No answer: the request times out after its own `timeoutMs` (a real timer), or waits until aborted. */
  | { hang: true };

/** An answer, or a function computing it (it may wait, e.g. on a promise the test resolves). */
export type ScriptedReply = ScriptedAnswer | ((req: HttpRequest) => ScriptedAnswer | Promise<ScriptedAnswer>);

interface Expectation {
  line: string;
  reply: ScriptedReply;
  /** The request body must parse to this JSON value. */
  json?: unknown;
}

export class ScriptedHttp implements HttpTransport {
  /** Every request, in the order sent. */
  readonly sent: HttpRequest[] = [];
  /** Requests that matched no expectation (or whose body did not), with why. */
  readonly unexpected: string[] = [];
  private readonly expected: Expectation[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  /**
   * Expects one request whose `describeRequest` line is `line` (e.g. "GET unix:/d.sock:/v1.41/_ping"),
   * and, with `json`, whose body parses to that value. Expectations are matched by line in the order
   * given, so concurrent requests of different lines may arrive in any order.
   */
  expect(line: string, reply: ScriptedReply, check: { json?: unknown } = {}): this {
    this.expected.push({ line, reply, ...("json" in check ? { json: check.json } : {}) });
    return this;
  }

  /** The lines of every request sent so far. */
  get log(): string[] {
    return this.sent.map(describeRequest);
  }

  /** The lines of the expectations not used yet. */
  get pending(): string[] {
    return this.expected.map((e) => e.line);
  }

  /** Throws unless every expectation was used and no request was unexpected. */
  assertDone(): void {
    const problems = [
      ...this.unexpected.map((u) => `unexpected: ${u}`),
      ...this.pending.map((p) => `never sent: ${p}`),
    ];
    if (problems.length > 0) throw new Error(`ScriptedHttp:\n  ${problems.join("\n  ")}`);
  }

  /** Resolves once `count` requests have been sent in all; rejects after `timeoutMs` (real time). */
  waitForRequests(count: number, timeoutMs = 2_000): Promise<void> {
    if (this.sent.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`ScriptedHttp: ${this.sent.length} of ${count} requests after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const answer = await this.answer(req);
    if ("stream" in answer)
      throw new Error(`ScriptedHttp: a stream answers ${describeRequest(req)}, a one-shot request`);
    return { status: answer.status ?? 200, headers: answer.headers ?? {}, body: bodyText(answer) };
  }

  async stream(req: HttpRequest): Promise<HttpStream> {
    const answer = await this.answer(req);
    let body: ScriptedBody;
    if ("stream" in answer) body = answer.stream;
    else {
      body = new ScriptedBody();
      body.push(bodyText(answer));
      body.end();
    }
    body.attach(req.signal);
    return { status: answer.status ?? 200, headers: answer.headers ?? {}, body };
  }

  /** Records `req`, finds its expectation and settles the transport-level outcomes. */
  private async answer(
    req: HttpRequest,
  ): Promise<Exclude<ScriptedAnswer, { error: Error } | { timeout: true } | { hang: true }>> {
    this.record(req);
    const line = describeRequest(req);
    const i = this.expected.findIndex((e) => e.line === line);
    const found = this.expected[i];
    if (!found) {
      this.unexpected.push(line);
      throw new Error(`ScriptedHttp: unexpected request ${line}; pending: [${this.pending.join(", ")}]`);
    }
    this.expected.splice(i, 1);
    if ("json" in found && !isDeepStrictEqual(parseBody(req.body), found.json)) {
      const why = `${line} with body ${req.body ?? "(none)"}, expected ${JSON.stringify(found.json)}`;
      this.unexpected.push(why);
      throw new Error(`ScriptedHttp: unexpected request ${why}`);
    }
    const answer = typeof found.reply === "function" ? await found.reply(req) : found.reply;
    req.signal?.throwIfAborted();
    if ("error" in answer) throw answer.error;
    if ("timeout" in answer) throw httpTimeout(req.timeoutMs);
    if ("hang" in answer) return hang(req);
    return answer;
  }

  private record(req: HttpRequest): void {
    this.sent.push(req);
    for (const w of this.waiters.filter((x) => this.sent.length >= x.count)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}

/** Never answers: rejects after the request's timeout, or when it is aborted. */
function hang(req: HttpRequest): Promise<never> {
  return new Promise((_, reject) => {
    const timer =
      req.timeoutMs > 0 ? setTimeout(() => reject(httpTimeout(req.timeoutMs)), req.timeoutMs) : undefined;
    // Rejects as the real transport does: with the signal's reason.
    req.signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        const reason: unknown = req.signal?.reason;
        reject(reason instanceof Error ? reason : new Error(String(reason)));
      },
      { once: true },
    );
  });
}

function bodyText(answer: { json?: unknown; text?: string }): string {
  if (answer.text !== undefined) return answer.text;
  return "json" in answer ? JSON.stringify(answer.json) : "";
}

function parseBody(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : JSON.parse(body);
  } catch {
    return body;
  }
}

/**
 * A streamed body the test feeds by hand: `push` chunks, then `end` (the server finished) or `fail`
 * (the connection broke). An abort of the request, or a reader that stops, sets `cancelled`.
 */
export class ScriptedBody implements AsyncIterable<string> {
  cancelled = false;
  private readonly chunks: string[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  push(text: string): this {
    this.chunks.push(text);
    this.notify();
    return this;
  }

  end(): this {
    this.ended = true;
    this.notify();
    return this;
  }

  fail(error: unknown): this {
    this.failure = { error };
    this.notify();
    return this;
  }

  /** Ties the body to its request's signal (ScriptedHttp does it). */
  attach(signal: AbortSignal | undefined): void {
    signal?.addEventListener(
      "abort",
      () => {
        this.cancelled = true;
        this.chunks.length = 0;
        this.fail(signal.reason);
      },
      { once: true },
    );
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    let finished = false;
    try {
      for (;;) {
        const chunk = this.chunks.shift();
        if (chunk !== undefined) yield chunk;
        else if (this.failure) throw this.failure.error;
        else if (this.ended) break;
        else await new Promise<void>((resolve) => (this.wake = resolve));
      }
      finished = true;
    } finally {
      if (!finished && !this.failure) this.cancelled = true;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
