/**
 * The UDP and TCP front ends on loopback sockets (127.0.58.x / 127.0.59.x, ephemeral ports; no
 * root): questions answered through a real Responder and Zone with the view of the asker's source
 * and the address it asked at, RFC 7766 framing, forwarding, the TCP connection budgets and
 * timeouts, and sockets given back on close.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { after, afterEach, describe, it } from "node:test";
import { createLogger, silentLogger } from "../../../src/core/index.js";
import {
  decodeMessage,
  DnsServer,
  encodeQuery,
  encodeResponse,
  Flag,
  Rcode,
  Responder,
  RRType,
  Upstream,
  Zone,
  type ZoneView,
} from "../../../src/dns/index.js";
import {
  literalLookup,
  TcpFrontend,
  type TcpFrontendOptions,
  UdpFrontend,
} from "../../../src/dns/frontends.js";
import { sleep, until } from "../../helpers/wait.js";

/** Listening addresses, standing for network b's gateway and for another listener. */
const L1 = "127.0.58.10";
const L2 = "127.0.58.11";
/** Askers: the container `web` (on network a), and an address that is no container's. */
const WEB = "127.0.58.2";
const STRANGER = "127.0.58.3";
/** What the loopback addresses stand for in the zone's view rules. */
const STANDS_FOR: Record<string, string> = { [L1]: "10.2.0.1", [WEB]: "10.1.0.2", [STRANGER]: "192.0.2.50" };

/**
 * A zone whose view rules see the loopback addresses as the addresses they stand for (the rules
 * take any loopback source for the host itself), and that records what it was asked with.
 */
class StandInZone extends Zone {
  readonly asked: string[] = [];
  override viewFor(source: string, local: string): ZoneView {
    this.asked.push(`${source} ${local}`);
    return super.viewFor(STANDS_FOR[source] ?? source, STANDS_FOR[local] ?? local);
  }
}

function zone(): StandInZone {
  const z = new StandInZone();
  z.set("c:web", [{ name: "web", ipv4: ["10.1.0.2"], scope: "a", member: true }]);
  z.set("c:db", [{ name: "db", ipv4: ["10.2.0.2"], scope: "b", member: true }]);
  z.setGateways([
    ["10.1.0.1", "a"],
    ["10.2.0.1", "b"],
  ]);
  return z;
}

/** An upstream that answers every forwarded question with 192.0.2.80, or not at all. */
class FakeUpstream extends Upstream {
  readonly calls: { viaTcp: boolean; limit: number }[] = [];
  answer = true;
  /** When set, replies wait for it. */
  gate: Promise<void> | undefined;
  constructor() {
    super({ logger: silentLogger });
  }
  override async forward(query: Buffer, viaTcp: boolean, limit: number): Promise<Buffer | undefined> {
    this.calls.push({ viaTcp, limit });
    await this.gate;
    const q = decodeMessage(query)?.questions[0];
    if (!this.answer || !q) return undefined;
    return encodeResponse({
      id: query.readUInt16BE(0),
      flags: Flag.QR | Flag.RD | Flag.RA,
      question: q,
      answers: [{ type: "A", name: q.name, ttl: 60, address: "192.0.2.80" }],
    }).bytes;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function withTimeout<T>(p: Promise<T>, what: string, ms = 1_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The A addresses of a reply, and its rcode. */
function answer(reply: Buffer): { rcode: number; id: number; ips: string[] } {
  const d = decodeMessage(reply);
  assert.ok(d, "a DNS message");
  const ips = d.answers
    .filter((a) => a.type === RRType.A)
    .map((a) => reply.subarray(a.rdataOffset, a.rdataOffset + 4).join("."));
  return { rcode: d.rcode, id: d.id, ips };
}

const query = (name: string, id: number): Buffer => encodeQuery(name, RRType.A, { id });
const frame = (msg: Buffer): Buffer => Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);

/** A UDP front end on `ip` (an ephemeral port). */
async function udpServer(z: Zone, upstream: Upstream = new FakeUpstream(), ip = L1) {
  const socket = dgram.createSocket({ type: "udp4", lookup: literalLookup });
  await new Promise<void>((resolve) => socket.bind({ address: ip, port: 0 }, resolve));
  let open = true;
  const close = (): Promise<void> =>
    open ? new Promise((resolve) => ((open = false), socket.close(() => resolve()))) : Promise.resolve();
  cleanups.push(close);
  new UdpFrontend(new Responder({ zone: z }), upstream, silentLogger).attach(socket);
  return { port: socket.address().port, close };
}

/** Asks `msg` over UDP from `from` and resolves with the reply. */
async function askUdp(from: string, to: string, port: number, msg: Buffer): Promise<Buffer> {
  const client = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => client.bind({ address: from, port: 0 }, resolve));
  try {
    const reply = new Promise<Buffer>((resolve) => client.once("message", (m) => resolve(m)));
    client.send(msg, port, to);
    return await withTimeout(reply, "UDP reply");
  } finally {
    client.close();
  }
}

/** A TCP front end listening on each of `ips`, on one ephemeral port each. */
async function tcpServer(z: Zone, options: TcpFrontendOptions = {}, upstream: Upstream = new FakeUpstream()) {
  const frontend = new TcpFrontend(new Responder({ zone: z }), upstream, silentLogger, options);
  const ports: Record<string, number> = {};
  for (const ip of [L1, L2]) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: ip, port: 0 }, resolve));
    frontend.attach(server);
    ports[ip] = (server.address() as net.AddressInfo).port;
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  }
  cleanups.push(() => frontend.closeAll());
  return { frontend, port: (ip: string): number => ports[ip] ?? 0 };
}

/** A TCP client that splits what it receives into 2-octet-length frames. */
class TcpClient {
  readonly frames: Buffer[] = [];
  readonly closed: Promise<number>;
  private buf = Buffer.alloc(0);

  private constructor(readonly sock: net.Socket) {
    const t0 = Date.now();
    this.closed = new Promise((resolve) => sock.once("close", () => resolve(Date.now() - t0)));
    sock.on("error", () => undefined);
    sock.setNoDelay(true); // each write goes out at once: the pieces of a query arrive as written
    sock.on("data", (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        this.frames.push(this.buf.subarray(2, 2 + this.buf.readUInt16BE(0)));
        this.buf = this.buf.subarray(2 + this.buf.readUInt16BE(0));
      }
    });
  }

  static async open(to: string, port: number, from: string): Promise<TcpClient> {
    const sock = net.connect({ host: to, port, localAddress: from });
    cleanups.push(() => void sock.destroy());
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      }),
      "TCP connection",
    );
    return new TcpClient(sock);
  }

  /** Waits for `n` frames in all. */
  async replies(n: number): Promise<Buffer[]> {
    await until(`${n} replies`, () => this.frames.length >= n || this.sock.destroyed);
    assert.ok(this.frames.length >= n, `${n} replies before the connection closed`);
    return this.frames.slice(0, n);
  }

  /** True when the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), sleep(ms).then(() => false)]);
  }
}

void describe("UdpFrontend", () => {
  void it("answers from the zone through the view of the asker's source and the address it asked at", async () => {
    const z = zone();
    const { port } = await udpServer(z);
    // The container web, asking at network b's gateway: its own network's names only.
    assert.deepEqual(answer(await askUdp(WEB, L1, port, query("web.weave.local.", 1))), {
      rcode: Rcode.NOERROR,
      id: 1,
      ips: ["10.1.0.2"],
    });
    assert.equal(answer(await askUdp(WEB, L1, port, query("db.weave.local.", 2))).rcode, Rcode.NXDOMAIN);
    // No container's address, asking at network b's gateway: network b's names.
    assert.deepEqual(answer(await askUdp(STRANGER, L1, port, query("db.weave.local.", 3))).ips, ["10.2.0.2"]);
    assert.equal(
      answer(await askUdp(STRANGER, L1, port, query("web.weave.local.", 4))).rcode,
      Rcode.NXDOMAIN,
    );
    assert.deepEqual(z.asked.slice(0, 2), [`${WEB} ${L1}`, `${WEB} ${L1}`]);
  });

  void it("forwards other names upstream and relays the reply; SERVFAIL when no upstream answers", async () => {
    const upstream = new FakeUpstream();
    const { port } = await udpServer(zone(), upstream);
    assert.deepEqual(answer(await askUdp(WEB, L1, port, query("example.com.", 7))), {
      rcode: Rcode.NOERROR,
      id: 7,
      ips: ["192.0.2.80"],
    });
    assert.deepEqual(upstream.calls, [{ viaTcp: false, limit: 512 }]);
    upstream.answer = false;
    assert.equal(answer(await askUdp(WEB, L1, port, query("example.com.", 8))).rcode, Rcode.SERVFAIL);
  });

  void it("drops what is no query and goes on answering", async () => {
    const { port } = await udpServer(zone());
    const client = dgram.createSocket("udp4");
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
    await new Promise<void>((resolve) => client.bind({ address: WEB, port: 0 }, resolve));
    const got: Buffer[] = [];
    client.on("message", (m) => got.push(m));
    client.send(Buffer.from([1, 2, 3]), port, L1);
    client.send(query("web.weave.local.", 9), port, L1);
    await until("the reply", () => got.length > 0);
    await sleep(20);
    assert.equal(got.length, 1, "no reply to the junk");
    assert.equal(answer(got[0] ?? Buffer.alloc(0)).id, 9);
  });

  void it("a reply whose socket closed while it was upstream is dropped without an error", async () => {
    const lines: string[] = [];
    const upstream = new FakeUpstream();
    let release = (): void => undefined;
    upstream.gate = new Promise((r) => (release = r));
    const socket = dgram.createSocket({ type: "udp4", lookup: literalLookup });
    await new Promise<void>((resolve) => socket.bind({ address: L2, port: 0 }, resolve));
    const log = createLogger({ level: "debug", sink: (line) => lines.push(line) });
    new UdpFrontend(new Responder({ zone: zone() }), upstream, log).attach(socket);
    const client = dgram.createSocket("udp4");
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
    client.send(query("example.com.", 1), socket.address().port, L2);
    await until("the question upstream", () => upstream.calls.length === 1);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    release();
    await sleep(20);
    assert.deepEqual(lines, []);
  });
});

void describe("TcpFrontend", () => {
  void it("answers framed queries: one, several in one write, and one that arrives in pieces", async () => {
    const { port } = await tcpServer(zone());
    const c = await TcpClient.open(L1, port(L1), WEB);
    c.sock.write(frame(query("web.weave.local.", 1)));
    const [first] = await c.replies(1);
    assert.deepEqual(answer(first ?? Buffer.alloc(0)).ips, ["10.1.0.2"]);

    c.sock.write(Buffer.concat([frame(query("web.weave.local.", 2)), frame(query("db.weave.local.", 3))]));
    const replies = await c.replies(3);
    assert.deepEqual(
      replies.slice(1).map((r) => [answer(r).id, answer(r).rcode]),
      [
        [2, Rcode.NOERROR],
        [3, Rcode.NXDOMAIN],
      ],
    );

    const split = frame(query("web.weave.local.", 4));
    c.sock.write(split.subarray(0, 1)); // half of the length
    await sleep(20);
    c.sock.write(split.subarray(1, 14)); // the rest of the length, the header and some of the question
    await sleep(20);
    assert.equal(c.frames.length, 3, "nothing answered before the query is whole");
    c.sock.write(Buffer.concat([split.subarray(14), frame(query("web.weave.local.", 5)).subarray(0, 5)]));
    const [, , , fourth] = await c.replies(4);
    assert.equal(answer(fourth ?? Buffer.alloc(0)).id, 4);
    await sleep(20);
    assert.equal(c.frames.length, 4, "the next query is not whole yet");
  });

  void it("answers through the view of the connection's source and the address it reached", async () => {
    const z = zone();
    const { port } = await tcpServer(z);
    const stranger = await TcpClient.open(L1, port(L1), STRANGER);
    stranger.sock.write(
      Buffer.concat([frame(query("db.weave.local.", 1)), frame(query("web.weave.local.", 2))]),
    );
    const [db, web] = await stranger.replies(2);
    assert.deepEqual(answer(db ?? Buffer.alloc(0)).ips, ["10.2.0.2"]);
    assert.equal(answer(web ?? Buffer.alloc(0)).rcode, Rcode.NXDOMAIN);
    assert.deepEqual(z.asked, [`${STRANGER} ${L1}`, `${STRANGER} ${L1}`]);
  });

  void it("forwards other names over TCP with the whole TCP size", async () => {
    const upstream = new FakeUpstream();
    const { port } = await tcpServer(zone(), {}, upstream);
    const c = await TcpClient.open(L1, port(L1), WEB);
    c.sock.write(frame(query("example.com.", 3)));
    const [r] = await c.replies(1);
    assert.deepEqual(answer(r ?? Buffer.alloc(0)), { rcode: Rcode.NOERROR, id: 3, ips: ["192.0.2.80"] });
    assert.deepEqual(upstream.calls, [{ viaTcp: true, limit: 65_535 }]);
  });

  void it("closes at once a connection over the client, address or total budget, and takes new ones once some close", async () => {
    const { frontend, port } = await tcpServer(zone(), {
      maxConnectionsPerClient: 2,
      maxConnectionsPerAddress: 3,
      maxConnections: 4,
    });
    const open = async (to: string, from: string, admitted: number): Promise<TcpClient> => {
      const c = await TcpClient.open(to, port(to), from);
      await until(`${admitted} admitted`, () => frontend.connections().total === admitted);
      return c;
    };
    const x = "127.0.59.1";
    const held = [await open(L1, x, 1), await open(L1, x, 2)];
    const refusedClient = await TcpClient.open(L2, port(L2), x);
    assert.ok(await refusedClient.closedWithin(500), "a third connection of one client, on any address");
    held.push(await open(L1, "127.0.59.2", 3));
    const refusedAddress = await TcpClient.open(L1, port(L1), "127.0.59.3");
    assert.ok(await refusedAddress.closedWithin(500), "a fourth connection to one address");
    held.push(await open(L2, "127.0.59.3", 4));
    const refusedTotal = await TcpClient.open(L2, port(L2), "127.0.59.4");
    assert.ok(await refusedTotal.closedWithin(500), "a fifth connection in all");
    assert.deepEqual(frontend.connections(L1, x), { total: 4, address: 3, client: 2 });

    for (const c of held) assert.equal(await c.closedWithin(0), false, "admitted connections stay open");
    const last = held[3] as TcpClient;
    last.sock.write(frame(query("web.weave.local.", 1)));
    assert.equal(answer((await last.replies(1))[0] ?? Buffer.alloc(0)).id, 1);

    for (const c of held.splice(0, 2)) c.sock.destroy();
    await until("released", () => frontend.connections(L1, x).client === 0);
    assert.deepEqual(frontend.connections(L1, x), { total: 2, address: 1, client: 0 });
    const again = await open(L2, x, 3);
    again.sock.write(frame(query("web.weave.local.", 2)));
    assert.equal(answer((await again.replies(1))[0] ?? Buffer.alloc(0)).id, 2);
  });

  void it("closes an idle connection after the idle time, and a trickled query at its deadline", async () => {
    const { port } = await tcpServer(zone(), { idleTimeoutMs: 200, queryTimeoutMs: 150 });
    const idle = await TcpClient.open(L1, port(L1), WEB);
    const trickled = await TcpClient.open(L1, port(L1), STRANGER);
    const q = frame(query("web.weave.local.", 1));
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < q.length && !trickled.sock.destroyed) trickled.sock.write(q.subarray(sent, ++sent));
    }, 30);
    cleanups.push(() => clearInterval(timer));
    const [idleMs, trickledMs] = await withTimeout(
      Promise.all([idle.closed, trickled.closed]),
      "closes",
      2_000,
    );
    assert.ok(idleMs >= 150 && idleMs < 1_500, `idle connection closed after ${idleMs} ms`);
    assert.ok(trickledMs >= 120 && trickledMs < 1_000, `trickled query cut after ${trickledMs} ms`);
    assert.ok(sent < q.length, "the query never arrived whole");
    assert.equal(trickled.frames.length, 0);
  });

  void it("closeAll closes every open connection and gives its budget back", async () => {
    const { frontend, port } = await tcpServer(zone());
    const a = await TcpClient.open(L1, port(L1), WEB);
    const b = await TcpClient.open(L2, port(L2), WEB);
    await until("admitted", () => frontend.connections().total === 2);
    frontend.closeAll();
    assert.ok(await a.closedWithin(500));
    assert.ok(await b.closedWithin(500));
    assert.deepEqual(frontend.connections(L1, WEB), { total: 0, address: 0, client: 0 });
  });
});

void describe("DnsServer.close", () => {
  const server: { s?: DnsServer } = {};
  after(async () => server.s?.close());

  void it("closes open connections and gives the UDP and TCP ports back", async () => {
    const ip = "127.0.58.20";
    let port = 0;
    for (let attempt = 0; port === 0; attempt++) {
      const candidate = 20_000 + Math.floor(Math.random() * 40_000);
      const s = new DnsServer({
        zone: zone(),
        logger: silentLogger,
        port: candidate,
        upstream: { servers: ["127.0.0.1:9"] },
      });
      try {
        await s.setAddresses([ip]);
        server.s = s;
        port = candidate;
      } catch (err) {
        await s.close();
        if (attempt > 5) throw err;
      }
    }
    const c = await TcpClient.open(ip, port, WEB);
    await server.s?.close();
    assert.ok(await c.closedWithin(500), "the open connection is closed");
    assert.deepEqual(server.s?.addresses(), []);

    const udp = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind({ address: ip, port, exclusive: true }, resolve);
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen({ host: ip, port, exclusive: true }, resolve);
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });
});
