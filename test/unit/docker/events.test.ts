import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ScriptedBody, ScriptedHttp, createLogger } from "../../../src/core/index.js";
import type { DockerEvent } from "../../../src/docker/index.js";
import { DockerEventStream } from "../../../src/docker/index.js";

const SOCK = "/run/test-docker.sock";
const FILTERS = { type: ["container", "network"] };

/** The request line of GET /events with these filters, and `since` when given. */
function eventsAt(since?: string): string {
  const params = new URLSearchParams({ filters: JSON.stringify(FILTERS) });
  if (since !== undefined) params.set("since", since);
  return `GET unix:${SOCK}:/v1.41/events?${params.toString()}`;
}

function event(id: string, action: string, timeNano: number, extra: object = {}): string {
  return `${JSON.stringify({
    Type: "container",
    Action: action,
    Actor: { ID: id, Attributes: { name: id } },
    time: Math.floor(timeNano / 1e9),
    timeNano,
    ...extra,
  })}\n`;
}

/** Waits (a few ms at a time, 2 s at most) until `done` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), `timed out waiting for ${what}`);
}

function harness(http: ScriptedHttp) {
  const events: DockerEvent[] = [];
  const logs: { level: string; msg: string }[] = [];
  let connects = 0;
  const stream = new DockerEventStream({
    socketPath: SOCK,
    filters: FILTERS,
    logger: createLogger({
      level: "debug",
      sink: (line) => logs.push(JSON.parse(line) as { level: string; msg: string }),
    }),
    onEvent: (e) => {
      if (e.Action === "explode") throw new Error("handler bug");
      events.push(e);
    },
    onConnect: () => connects++,
    minBackoffMs: 1,
    maxBackoffMs: 4,
    http,
  });
  return { stream, events, logs, connects: () => connects };
}

const T1 = 1_700_000_000_123_456_768; // timeNano is past a double's precision: a multiple of 256
const T2 = 1_700_000_001_000_000_000;

void describe("DockerEventStream", () => {
  void it("follows the stream: lines split across chunks, decoded events in order", async () => {
    const body = new ScriptedBody();
    const http = new ScriptedHttp().expect(eventsAt(), { stream: body });
    const h = harness(http);
    h.stream.start();
    await until(() => h.connects() === 1, "the connection");
    assert.equal(h.stream.connected, true);
    const two = event("c1", "start", T1) + event("c2", "die", T2);
    body.push(two.slice(0, 30)).push(two.slice(30, 150)).push(two.slice(150));
    await until(() => h.events.length === 2, "two events");
    assert.deepEqual(h.events[0], {
      Type: "container",
      Action: "start",
      Actor: { ID: "c1", Attributes: { name: "c1" } },
      time: Math.floor(T1 / 1e9),
      timeNano: T1,
    });
    assert.deepEqual(
      h.events.map((e) => `${e.Actor.ID} ${e.Action}`),
      ["c1 start", "c2 die"],
    );
    assert.equal(http.sent[0]?.timeoutMs, 0, "an open stream is never timed out");
    h.stream.close();
    assert.equal(body.cancelled, true, "close cancels the request");
    http.assertDone();
  });

  void it("skips lines that are not events, and a handler that throws, and keeps going", async () => {
    const body = new ScriptedBody();
    const http = new ScriptedHttp().expect(eventsAt(), { stream: body });
    const h = harness(http);
    h.stream.start();
    body.push("not json\n").push(`${JSON.stringify({ Type: "container", Actor: {} })}\n`);
    body.push(event("c1", "explode", T1)).push(event("c2", "start", T2));
    await until(() => h.events.length === 1, "the good event");
    h.stream.close();
    assert.deepEqual(
      h.logs.filter((l) => l.level !== "debug").map((l) => l.msg),
      [
        "ignoring an event that is not JSON or not of the expected shape",
        "ignoring an event that is not JSON or not of the expected shape",
        "event handler failed",
      ],
    );
    assert.equal(h.events[0]?.Actor.ID, "c2");
    http.assertDone();
  });

  void it("reconnects after the stream ends, since 1 ms before the last event, and drops replays", async () => {
    const first = new ScriptedBody();
    const second = new ScriptedBody();
    // T2 - 1 ms is 1700000000.999 s (timeNano is past a double's precision: 64 ns off).
    const http = new ScriptedHttp()
      .expect(eventsAt(), { stream: first })
      .expect(eventsAt("1700000000.999000064"), { stream: second });
    const h = harness(http);
    h.stream.start();
    first.push(event("c1", "start", T1) + event("c2", "start", T2)).end();
    await until(() => h.connects() === 2, "the reconnection");
    second.push(event("c2", "start", T2) + event("c2", "die", T2) + event("c3", "start", T2 + 5));
    await until(() => h.events.length === 4, "the new events");
    h.stream.close();
    assert.deepEqual(
      h.events.map((e) => `${e.Actor.ID} ${e.Action}`),
      ["c1 start", "c2 start", "c2 die", "c3 start"],
    );
    assert.ok(h.logs.some((l) => l.msg === "event stream lost; reconnecting"));
    http.assertDone();
  });

  void it("retries when Docker is down, answers an error or drops the stream, and stops on close", async () => {
    const body = new ScriptedBody();
    const refused = Object.assign(new Error(`connect ECONNREFUSED ${SOCK}`), { code: "ECONNREFUSED" });
    const http = new ScriptedHttp()
      .expect(eventsAt(), { error: refused })
      .expect(eventsAt(), { status: 500, text: "{}" })
      .expect(eventsAt(), { stream: body })
      .expect(eventsAt(), { hang: true });
    const h = harness(http);
    h.stream.start();
    await until(() => h.connects() === 1, "a connection after two failures");
    assert.equal(http.sent.length, 3);
    body.fail(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
    await http.waitForRequests(4);
    assert.equal(h.stream.connected, false);
    h.stream.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(http.sent.length, 4, "no reconnection after close");
    http.assertDone();
    assert.equal(h.logs.filter((l) => l.msg === "event stream lost; reconnecting").length, 1);
  });
});
