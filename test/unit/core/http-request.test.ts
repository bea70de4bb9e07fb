import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HttpRequest } from "../../../src/core/index.js";
import {
  ScriptedBody,
  ScriptedHttp,
  createNodeHttp,
  describeRequest,
  isHttpTimeout,
  readText,
  textLines,
} from "../../../src/core/index.js";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** An HTTP server on a unix socket and on 127.0.0.1 whose handler each test sets. */
void describe("createNodeHttp", () => {
  const dir = mkdtempSync(join(tmpdir(), "weave-http-"));
  const socketPath = join(dir, "api.sock");
  let handler: Handler = (_req, _body, res) => res.end();
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  let origin = "";
  const http = createNodeHttp();

  before(async () => {
    for (const listen of [socketPath, 0]) {
      const server = createServer((req, res) => {
        let body = "";
        req.setEncoding("utf8").on("data", (d: string) => (body += d));
        req.on("end", () => handler(req, body, res));
      });
      server.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
      });
      await new Promise<void>((resolve) =>
        typeof listen === "string" ? server.listen(listen, resolve) : server.listen(0, "127.0.0.1", resolve),
      );
      servers.push(server);
    }
    origin = `http://127.0.0.1:${(servers[1]?.address() as AddressInfo).port}`;
  });

  after(async () => {
    http.close();
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });

  const req = (over: Partial<HttpRequest> = {}): HttpRequest => ({
    target: { socketPath },
    method: "GET",
    path: "/v1/x?y=1",
    timeoutMs: 2_000,
    ...over,
  });

  void it("sends method, path, headers and body with its length, and returns the whole answer", async () => {
    let seen: unknown;
    handler = (r, body, res) => {
      seen = [r.method, r.url, r.headers["content-type"], r.headers["content-length"], body];
      res.writeHead(201, { "X-Thing": "a" }).end("héllo");
    };
    const res = await http.request(
      req({ method: "POST", body: '{"é":1}', headers: { "Content-Type": "application/json" } }),
    );
    assert.deepEqual(seen, ["POST", "/v1/x?y=1", "application/json", "8", '{"é":1}']);
    assert.equal(res.status, 201);
    assert.equal(res.headers["x-thing"], "a");
    assert.equal(res.body, "héllo");
  });

  void it("reaches an http:// origin", async () => {
    handler = (r, _body, res) => res.end(`${r.method ?? ""} ${r.url ?? ""}`);
    const res = await http.request(req({ target: { origin }, method: "DELETE" }));
    assert.equal(res.body, "DELETE /v1/x?y=1");
  });

  void it("rejects with the timeout error when the server stays silent, and with the socket's error otherwise", async () => {
    handler = () => undefined;
    await assert.rejects(http.request(req({ timeoutMs: 30 })), (err: unknown) => {
      assert.ok(isHttpTimeout(err), String(err));
      assert.equal(err.message, "no answer within 30 ms");
      return true;
    });
    await assert.rejects(http.request(req({ target: { socketPath: join(dir, "none.sock") } })), {
      code: "ENOENT",
    });
  });

  void it("rejects with the signal's reason when aborted", async () => {
    handler = () => undefined;
    const abort = new AbortController();
    const p = http.request(req({ signal: abort.signal }));
    setImmediate(() => abort.abort(new Error("no longer needed")));
    await assert.rejects(p, { message: "no longer needed" });
  });

  void it("streams a body chunk by chunk, silence after the answer is no timeout, and ends with the server", async () => {
    let respond: ServerResponse | undefined;
    handler = (_r, _body, res) => {
      res.writeHead(200).flushHeaders();
      respond = res;
    };
    const stream = await http.stream(req({ timeoutMs: 30 }));
    assert.equal(stream.status, 200);
    const lines: string[] = [];
    const done = (async () => {
      for await (const line of textLines(stream.body)) lines.push(line);
    })();
    respond?.write('{"a":');
    await new Promise((r) => setTimeout(r, 60));
    respond?.write("1}\n\n  ");
    respond?.end("last\n");
    await done;
    assert.deepEqual(lines, ['{"a":1}', "last"]);
  });

  void it("a stream throws when the connection breaks, or when aborted", async () => {
    handler = (_r, _body, res) => {
      res.writeHead(200).flushHeaders();
      res.write("part");
      setImmediate(() => res.socket?.destroy());
    };
    const broken = await http.stream(req());
    await assert.rejects(readText(broken.body));

    handler = (_r, _body, res) => res.writeHead(200).flushHeaders();
    const abort = new AbortController();
    const open = await http.stream(req({ signal: abort.signal }));
    setImmediate(() => abort.abort());
    await assert.rejects(readText(open.body), { name: "AbortError" });
  });

  void it("a stream times out until the server answers", async () => {
    handler = () => undefined;
    await assert.rejects(http.stream(req({ timeoutMs: 30 })), (err: unknown) => isHttpTimeout(err));
  });
});

void describe("textLines", () => {
  void it("yields trimmed non-empty lines however the chunks split them, dropping a cut-off last line", async () => {
    async function* chunks() {
      yield* ["a", "b\n", "\n  c \r\nd", "e\nf"];
    }
    const out: string[] = [];
    for await (const line of textLines(chunks())) out.push(line);
    assert.deepEqual(out, ["ab", "c", "de"]);
  });
});

void describe("ScriptedHttp", () => {
  const r = (path: string, body?: string): HttpRequest => ({
    target: { origin: "http://h:1" },
    method: "POST",
    path,
    timeoutMs: 10,
    ...(body === undefined ? {} : { body }),
  });

  void it("answers expected requests by line, and rejects and records the others", async () => {
    const http = new ScriptedHttp()
      .expect("POST http://h:1/a", { json: { ok: true } }, { json: { n: 1 } })
      .expect("POST http://h:1/b", { status: 500, text: "no" });
    assert.equal(describeRequest(r("/a")), "POST http://h:1/a");
    assert.equal(describeRequest({ ...r("/a"), target: { socketPath: "/s" } }), "POST unix:/s:/a");
    assert.deepEqual(await http.request(r("/b")), { status: 500, headers: {}, body: "no" });
    await assert.rejects(
      http.request(r("/c")),
      /unexpected request POST http:\/\/h:1\/c; pending: \[POST http:\/\/h:1\/a\]/,
    );
    await assert.rejects(http.request(r("/a", '{"n":2}')), /with body \{"n":2\}, expected \{"n":1\}/);
    assert.deepEqual(http.log, ["POST http://h:1/b", "POST http://h:1/c", "POST http://h:1/a"]);
    assert.throws(
      () => http.assertDone(),
      /unexpected: POST http:\/\/h:1\/c\n {2}unexpected: POST http:\/\/h:1\/a with body/,
    );
    assert.throws(() => new ScriptedHttp().expect("GET x", { text: "" }).assertDone(), /never sent: GET x/);
  });

  void it("feeds a scripted stream, and marks it cancelled when the request is aborted", async () => {
    const body = new ScriptedBody();
    const abort = new AbortController();
    const http = new ScriptedHttp().expect("POST http://h:1/w", { stream: body });
    const res = await http.stream({ ...r("/w"), signal: abort.signal });
    const it = res.body[Symbol.asyncIterator]();
    body.push("one");
    assert.deepEqual(await it.next(), { value: "one", done: false });
    const next = it.next();
    abort.abort();
    await assert.rejects(next, { name: "AbortError" });
    assert.equal(body.cancelled, true);
  });
});
