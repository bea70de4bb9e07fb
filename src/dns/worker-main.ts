/**
 * Entry point of a UDP worker process (started by UdpWorkerPool; not a public module).
 * It holds a zone replica, a Responder and its own Upstream, and serves the UDP sockets the
 * parent shares with it. It exits when the parent goes away.
 */
import type dgram from "node:dgram";
import { createLogger, errorMessage } from "../core/index.js";
import { UdpFrontend } from "./frontends.js";
import { type QueryOutcome, Responder } from "./responder.js";
import { Upstream } from "./upstream.js";
import type { FromWorker, ToWorker } from "./workers.js";
import { Zone } from "./zone.js";

let zone: Zone | undefined;
let upstream: Upstream | undefined;
let frontend: UdpFrontend | undefined;
const sockets = new Map<string, dgram.Socket>();
const early: [string, dgram.Socket][] = [];
const counts = new Map<string, Map<QueryOutcome, number>>();

function send(msg: FromWorker): void {
  if (process.connected) process.send?.(msg);
}

function count(qtype: string, outcome: QueryOutcome, n: number): void {
  let byOutcome = counts.get(qtype);
  if (byOutcome === undefined) {
    byOutcome = new Map();
    counts.set(qtype, byOutcome);
  }
  byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + n);
}

function flushMetrics(): void {
  if (counts.size === 0) return;
  const out: [string, QueryOutcome, number][] = [];
  for (const [qtype, byOutcome] of counts)
    for (const [outcome, n] of byOutcome) out.push([qtype, outcome, n]);
  counts.clear();
  send({ type: "metrics", counts: out });
}

function serve(key: string, socket: dgram.Socket): void {
  if (!frontend) {
    early.push([key, socket]);
    return;
  }
  sockets.get(key)?.close();
  sockets.set(key, socket);
  frontend.attach(socket);
}

process.on("message", (msg: ToWorker, handle: unknown) => {
  switch (msg.type) {
    case "init": {
      const { config } = msg;
      const log = createLogger({
        level: config.logLevel,
        component: "dns-worker",
        fields: { pid: process.pid },
      });
      zone = new Zone({ domain: config.domain, ttl: config.ttl });
      zone.load(msg.snapshot);
      upstream = new Upstream({ logger: log, ...config.upstream });
      const responder = new Responder({
        zone,
        maxUdpSize: config.maxUdpSize,
        cacheEntries: config.cacheEntries,
        onQuery: count,
      });
      frontend = new UdpFrontend(responder, upstream, log);
      for (const [key, socket] of early.splice(0)) serve(key, socket);
      setInterval(flushMetrics, 1000).unref();
      send({ type: "ready" });
      break;
    }
    case "zone":
      zone?.apply(msg.change);
      break;
    case "udp":
      if (handle) serve(msg.key, handle as dgram.Socket);
      break;
    case "close":
      sockets.get(msg.key)?.close();
      sockets.delete(msg.key);
      break;
    case "own":
      upstream?.setOwnEndpoints(msg.endpoints);
      break;
  }
});

function shutdown(): void {
  flushMetrics();
  for (const s of sockets.values()) s.close();
  sockets.clear();
  upstream?.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`DNS worker close failed: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
}

process.on("disconnect", shutdown);
process.on("SIGTERM", shutdown);
