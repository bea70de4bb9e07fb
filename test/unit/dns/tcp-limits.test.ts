/**
 * The DNS TCP front end's budgets and deadlines, on real loopback sockets (127.0.54.x, a random
 * high port; no root): one client cannot starve the others, a trickled query is cut at a
 * deadline from its first byte, and idle time between queries is left as it was.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { silentLogger } from "../../../src/core/index.js";
import { decodeMessage, DnsServer, encodeQuery, Zone } from "../../../src/dns/index.js";
import { TcpBudget } from "../../../src/dns/tcp-budget.js";

const A = "127.0.54.1";
const B = "127.0.54.2";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP connection from `from` to `to:port`; `closed` resolves with ms from connect to close. */
async function open(
  to: string,
  port: number,
  from: string,
): Promise<{ sock: net.Socket; closed: Promise<number> }> {
  const sock = net.connect({ host: to, port, localAddress: from });
  sock.on("error", () => undefined);
  const t0 = Date.now();
  const closed = new Promise<number>((r) => sock.once("close", () => r(Date.now() - t0)));
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  return { sock, closed };
}

/** Sends one framed query on `sock` and resolves with the reply's ID, or rejects on close/timeout. */
function query(sock: net.Socket, id: number): Promise<number> {
  const q = encodeQuery("nosuch.weave.local.", 1, { id });
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.off("data", onData);
        resolve(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0)))?.id ?? -1);
      }
    };
    sock.on("data", onData);
    sock.once("close", () => reject(new Error("closed before a reply")));
    setTimeout(() => reject(new Error("no reply within 2 s")), 2000).unref();
    sock.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]));
  });
}

/** A connection that must be refused: closed at once, without a reply. */
async function refused(to: string, port: number, from: string): Promise<void> {
  const c = await open(to, port, from);
  const ms = await c.closed;
  assert.ok(ms < 800, `closed after ${ms} ms`);
}

void describe("DNS over TCP: budgets and deadlines", () => {
  let server: DnsServer;
  let port = 0;
  const held: net.Socket[] = [];
  /** Closes the held connections and gives the server time to see them go. */
  const release = async (): Promise<void> => {
    for (const s of held.splice(0)) s.destroy();
    await sleep(100);
  };

  before(async () => {
    for (let attempt = 0; ; attempt++) {
      port = 20_000 + Math.floor(Math.random() * 40_000);
      server = new DnsServer({
        zone: new Zone(),
        logger: silentLogger,
        port,
        upstream: { servers: ["127.0.0.1:9"] },
        tcpIdleTimeoutMs: 1_000,
        tcpQueryTimeoutMs: 300,
        maxTcpConnections: 12,
        maxTcpConnectionsPerAddress: 8,
        maxTcpConnectionsPerClient: 3,
      });
      await server.start();
      try {
        await server.setAddresses([A, B]);
        return;
      } catch (err) {
        await server.close();
        if (attempt > 5) throw err;
      }
    }
  });
  after(async () => {
    await release();
    await server.close();
  });

  void it("a client over its budget is refused; other clients are served", async () => {
    for (let i = 0; i < 3; i++) held.push((await open(A, port, "127.0.0.2")).sock);
    await refused(A, port, "127.0.0.2");
    await refused(B, port, "127.0.0.2"); // the client budget spans listeners
    const other = await open(A, port, "127.0.0.3");
    assert.equal(await query(other.sock, 7), 7);
    other.sock.destroy();
    await release();
  });

  void it("one listening address over its budget leaves the others served", async () => {
    for (let i = 0; i < 8; i++) held.push((await open(A, port, `127.0.1.${i + 1}`)).sock);
    await refused(A, port, "127.0.2.1");
    const onB = await open(B, port, "127.0.2.1");
    assert.equal(await query(onB.sock, 8), 8);
    onB.sock.destroy();
    await release();
  });

  void it("the global cap holds across listeners", async () => {
    for (let i = 0; i < 8; i++) held.push((await open(A, port, `127.0.3.${i + 1}`)).sock);
    for (let i = 0; i < 4; i++) held.push((await open(B, port, `127.0.4.${i + 1}`)).sock);
    await refused(B, port, "127.0.5.1");
    await release();
    const again = await open(B, port, "127.0.5.1");
    assert.equal(await query(again.sock, 9), 9, "served again once connections are gone");
    again.sock.destroy();
  });

  void it("a trickled query is cut at the deadline from its first byte, not reset by each byte", async () => {
    const c = await open(A, port, "127.0.6.1");
    const q = encodeQuery("slow.weave.local.", 1, { id: 1 });
    const frame = Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    let i = 0;
    const t0 = Date.now();
    const timer = setInterval(() => {
      if (i < frame.length && !c.sock.destroyed) c.sock.write(frame.subarray(i, ++i));
    }, 60);
    await c.closed;
    clearInterval(timer);
    const ms = Date.now() - t0;
    assert.ok(ms >= 250 && ms < 1_500, `cut ${ms} ms after the first byte`);
    assert.ok(i < frame.length, "the query was never complete");
  });

  void it("idle time between queries is not cut by the query deadline, only by the idle timeout", async () => {
    const c = await open(A, port, "127.0.7.1");
    assert.equal(await query(c.sock, 1), 1);
    await sleep(600); // twice the query deadline
    assert.equal(await query(c.sock, 2), 2);
    const idle = Date.now();
    await c.closed;
    const ms = Date.now() - idle;
    assert.ok(ms >= 900 && ms < 2_500, `closed after ${ms} ms idle`);
  });

  void it("answers queries pipelined in one write and a query split over writes, each in its frame", async () => {
    const c = await open(A, port, "127.0.9.1");
    const frame = (id: number): Buffer => {
      const q = encodeQuery("nosuch.weave.local.", 1, { id });
      return Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    };
    const ids: number[] = [];
    let buf = Buffer.alloc(0);
    const three = new Promise<void>((resolve, reject) => {
      setTimeout(() => reject(new Error(`only ${ids.length} replies within 2 s`)), 2000).unref();
      c.sock.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          ids.push(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0)))?.id ?? -1);
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (ids.length === 3) resolve();
      });
    });
    const third = frame(33);
    c.sock.write(Buffer.concat([frame(11), frame(22), third.subarray(0, 1)]));
    await sleep(50);
    c.sock.write(third.subarray(1));
    await three;
    assert.deepEqual(ids, [11, 22, 33]);
    assert.equal(c.sock.destroyed, false);
    c.sock.destroy();
  });

  void it("while one client holds its budget with slow connections, another gets answers at once", async () => {
    const slow = await Promise.all([0, 1, 2].map(() => open(A, port, "127.0.8.1")));
    for (const c of slow) c.sock.write(Buffer.from([0xff, 0xff])); // a 65,535-byte query, trickled
    const trickle = setInterval(() => {
      for (const c of slow) if (!c.sock.destroyed) c.sock.write(Buffer.from([0]));
    }, 50);
    for (let i = 0; i < 5; i++) await refused(A, port, "127.0.8.1");
    const t0 = Date.now();
    const other = await open(A, port, "127.0.8.2");
    assert.equal(await query(other.sock, 3), 3);
    assert.ok(Date.now() - t0 < 1_000, `answered in ${Date.now() - t0} ms`);
    clearInterval(trickle);
    other.sock.destroy();
    for (const c of slow) c.sock.destroy();
  });
});

void describe("TcpBudget", () => {
  void it("takes and gives back per client, per address and in all", () => {
    const b = new TcpBudget({ total: 3, perAddress: 2, perClient: 1 });
    assert.equal(b.acquire("a", "c1"), undefined);
    assert.equal(b.acquire("b", "c1"), "client");
    assert.equal(b.acquire("a", "c2"), undefined);
    assert.equal(b.acquire("a", "c3"), "address");
    assert.equal(b.acquire("b", "c3"), undefined);
    assert.equal(b.acquire("b", "c4"), "total");
    assert.deepEqual(b.count("a", "c1"), { total: 3, address: 2, client: 1 });
    b.release("a", "c1");
    assert.equal(b.acquire("b", "c1"), undefined);
    assert.deepEqual(b.count("a", "c1"), { total: 3, address: 1, client: 1 });
  });
});
