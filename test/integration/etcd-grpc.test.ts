/**
 * EtcdStore's listings over etcd's gRPC (etcd-grpc.ts) against a real etcd on loopback: the same
 * keys, values, revisions and lease IDs as through the JSON gateway; etcd's own errors (a compacted
 * revision) as WEAVE_STATE; and the ways an endpoint can fail to speak gRPC, with loopback servers
 * made here: an HTTP/1.1 proxy to etcd's gateway (the store lists through the gateway), an HTTP/2
 * server that answers UNAVAILABLE (the next endpoint serves; alone, WEAVE_TIMEOUT), and one that
 * never answers (the next endpoint serves after the timeout); and the flow-control window weave
 * opens, seen from an HTTP/2 server.
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import { createServer as createH2Server, type Http2Server } from "node:http2";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { isWeaveError, nodeHttp } from "../../src/core/index.js";
import { EtcdGrpc } from "../../src/store/etcd-grpc.js";
import { EtcdStore, prefixEnd } from "../../src/store/index.js";
import type { TestEtcd } from "./helpers/etcd.js";
import { etcdMissing, startEtcd } from "./helpers/etcd.js";

const missing = etcdMissing();
let n = 0;
const newPrefix = () => `/weave-test/grpc/${process.pid}-${Date.now()}-${n++}/`;

async function listen(server: Server | Http2Server | TcpServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `http://127.0.0.1:${address.port}`;
}

const closeServer = (server: Server | Http2Server | TcpServer) =>
  new Promise<void>((resolve) => server.close(() => resolve()));

void describe(
  "EtcdStore listings over gRPC against a real etcd",
  { skip: missing ?? false, timeout: 120_000 },
  () => {
    let etcd: TestEtcd | undefined;
    let store: EtcdStore;
    const endpoint = () => etcd?.endpoint ?? "";
    const servers: (Server | Http2Server | TcpServer)[] = [];
    const sockets = new Set<Socket>();

    before(async () => {
      etcd = await startEtcd();
      store = new EtcdStore({ endpoints: [endpoint()], pageSize: 1_000 });
    });

    after(async () => {
      await store.close();
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map(closeServer));
      etcd?.stop();
    });

    /** 2,500 keys under a new prefix, one of them on a lease; resolves with the prefix. */
    async function fill(): Promise<string> {
      const prefix = newPrefix();
      for (let i = 0; i < 2_500; i += 100)
        await Promise.all(
          Array.from({ length: 100 }, (_, j) =>
            store.put(`${prefix}k${String(i + j).padStart(4, "0")}`, `v${i + j} é`),
          ),
        );
      const lease = await store.grantLease(60);
      await store.put(`${prefix}leased`, "on a lease", { lease });
      return prefix;
    }

    void it("lists what the JSON gateway lists: keys, values, revisions and lease IDs, in pages", async () => {
      const prefix = await fill();
      const gateway = new EtcdStore({ endpoints: [endpoint()], pageSize: 1_000, http: nodeHttp });
      const [byGrpc, byGateway] = [await store.list(prefix), await gateway.list(prefix)];
      await gateway.close();
      assert.equal(byGrpc.items.length, 2_501);
      assert.deepEqual(byGrpc, byGateway);
      const leased = byGrpc.items.find((kv) => kv.key.endsWith("leased"));
      assert.match(leased?.lease ?? "", /^\d{6,}$/, "a lease ID, as a decimal string");
      assert.equal(byGrpc.items[7]?.value, "v7 é");
    });

    void it("answers a read at a compacted revision with etcd's error, as WEAVE_STATE", async () => {
      const prefix = await fill();
      const old = (await store.list(prefix)).revision;
      await store.put(`${prefix}k0000`, "again");
      await store.compact(old + 1);
      const grpc = new EtcdGrpc();
      try {
        const key = Buffer.from(prefix);
        await assert.rejects(
          grpc.range(
            endpoint(),
            { key, rangeEnd: Buffer.from(prefixEnd(prefix)), limit: 10, revision: old },
            5_000,
          ),
          (err: unknown) =>
            isWeaveError(err, "WEAVE_STATE") && /required revision has been compacted/.test(err.message),
        );
      } finally {
        grpc.close();
      }
    });

    void it("lists through the gateway where an endpoint does not speak gRPC (an HTTP/1.1 proxy)", async () => {
      const prefix = await fill();
      const target = new URL(endpoint());
      let proxied = 0;
      const proxy = createHttpServer((req, res) => {
        proxied++;
        const out = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        req.pipe(out);
      });
      proxy.on("connection", (s: Socket) => sockets.add(s));
      servers.push(proxy);
      const via = new EtcdStore({ endpoints: [await listen(proxy)], pageSize: 1_000, timeoutMs: 5_000 });
      try {
        const listed = await via.list(prefix);
        assert.deepEqual(listed, await store.list(prefix));
        assert.equal(proxied, 3, "three gateway pages through the proxy");
        await via.list(prefix);
        assert.equal(proxied, 6, "the next listing goes to the gateway at once");
      } finally {
        await via.close();
      }
    });

    void it("moves on from an endpoint that answers UNAVAILABLE; alone, it is a WEAVE_TIMEOUT", async () => {
      const prefix = await fill();
      let asked = 0;
      const h2 = createH2Server();
      h2.on("stream", (stream) => {
        asked++;
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "14",
            "grpc-message": "etcdserver: no%20leader",
          },
          { endStream: true },
        );
      });
      servers.push(h2);
      const unavailable = await listen(h2);
      const two = new EtcdStore({ endpoints: [unavailable, endpoint()], pageSize: 1_000 });
      const alone = new EtcdStore({ endpoints: [unavailable], timeoutMs: 300, retryPauseMs: 100 });
      try {
        assert.equal((await two.list(prefix)).items.length, 2_501);
        assert.ok(asked >= 1);
        await assert.rejects(
          alone.list(prefix),
          (err: unknown) =>
            isWeaveError(err, "WEAVE_TIMEOUT") && /cannot serve now: etcdserver: no leader/.test(err.message),
        );
      } finally {
        await two.close();
        await alone.close();
      }
    });

    void it("opens an 8 MiB flow-control window, so that a far etcd sends a page without waiting", async () => {
      // HTTP/2's default window, 64 KiB, made 100,000 keys take 14 s over a 20 ms round trip (1.6-2.1 s
      // with this window; the JSON gateway 3.8-4.5 s), measured through a delaying proxy.
      const seen: { stream?: number | undefined; connection?: number | undefined } = {};
      const h2 = createH2Server();
      h2.on("stream", (stream) => {
        seen.stream = stream.session?.remoteSettings.initialWindowSize;
        seen.connection = stream.session?.state.remoteWindowSize;
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.alloc(5)); // one empty RangeResponse
      });
      servers.push(h2);
      const s = new EtcdStore({ endpoints: [await listen(h2)] });
      try {
        assert.deepEqual(await s.list("/nothing/"), { items: [], revision: 0 });
        assert.ok((seen.stream ?? 0) >= 8 * 1024 * 1024, `stream window ${seen.stream}`);
        assert.ok((seen.connection ?? 0) >= 8 * 1024 * 1024, `connection window ${seen.connection}`);
      } finally {
        await s.close();
      }
    });

    void it("says why an endpoint cannot be reached: refused, or TLS spoken to a plain server", async () => {
      const refused = createTcpServer();
      const refusedUrl = await listen(refused);
      await closeServer(refused); // nothing listens there now
      const plain = new EtcdStore({ endpoints: [refusedUrl], timeoutMs: 1_000 });
      const tls = new EtcdStore({ endpoints: [endpoint().replace("http:", "https:")], timeoutMs: 1_000 });
      try {
        await assert.rejects(
          plain.list("/x/"),
          (err: unknown) =>
            isWeaveError(err, "WEAVE_TIMEOUT") &&
            err.message === `Cannot reach etcd at ${refusedUrl}: connect ECONNREFUSED ${refusedUrl.slice(7)}`,
        );
        await assert.rejects(
          tls.list("/x/"),
          (err: unknown) =>
            // The session's failure, not "The pending stream has been canceled".
            isWeaveError(err, "WEAVE_TIMEOUT") &&
            /TLS/.test(err.message) &&
            !/pending stream/.test(err.message),
        );
      } finally {
        await plain.close();
        await tls.close();
      }
    });

    void it("moves on from an endpoint that accepts and never answers, after the timeout", async () => {
      const prefix = await fill();
      const silent = createTcpServer((s) => sockets.add(s));
      servers.push(silent);
      const s = new EtcdStore({
        endpoints: [await listen(silent), endpoint()],
        pageSize: 1_000,
        timeoutMs: 500,
      });
      try {
        const t0 = Date.now();
        assert.equal((await s.list(prefix)).items.length, 2_501);
        assert.ok(Date.now() - t0 >= 450, "waited for the silent endpoint");
      } finally {
        await s.close();
      }
    });
  },
);
