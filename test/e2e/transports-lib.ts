/**
 * Helpers of the transports e2e tests (test/e2e/transports.test.ts): `weave status peers --json` as the
 * issue-12 contract shapes it, commands inside a container's network namespace with the machine's
 * tools (iputils ping, node, iperf3), TCP through busybox httpd and nc, captures on the underlay, and
 * the reading of a ping log that says which packets were lost and when they were sent.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { ExecOptions, ExecResult, Host } from "./harness/index.js";
import { run } from "./harness/index.js";
import { eventually, ok } from "./lib.js";

/** One peer in `weave status peers --json` (issue 12 contract). */
export interface PeerView {
  name: string;
  address: string;
  state: "self" | "alive" | "gone";
  transport: "routed" | "vxlan" | null;
  encryption: "none" | "wireguard" | "mismatch" | null;
  mtu: number | null;
  handshakeAgeS: number | null;
  up: boolean;
  problem: string;
}

/** `weave status peers --json` (issue 12 contract; only the fields these tests read). */
export interface PeersJson {
  name: string;
  address: string;
  store: { reachable: boolean; error: string };
  encryption: {
    enabled: boolean;
    implementation: "kernel" | "wireguard-go" | null;
    interface: string | null;
    publicKey: string | null;
    port: number | null;
  };
  peers: PeerView[];
}

export async function peersOf(host: Host): Promise<PeersJson> {
  return JSON.parse(ok(await host.weave(["status", "peers", "--json"]), "weave status peers")) as PeersJson;
}

/** The entry of peer `name` in `json`; fails the test when it is missing. */
export function peerIn(json: PeersJson, name: string): PeerView {
  const peer = json.peers.find((p) => p.name === name);
  assert.ok(peer, `${json.name} lists peer ${name}: ${JSON.stringify(json.peers)}`);
  return peer;
}

/** PID (machine's PID namespace) of a container's main process. */
export async function pidOf(host: Host, container: string): Promise<string> {
  return ok(await host.docker(["inspect", "-f", "{{.State.Pid}}", container]), `pid of ${container}`);
}

/** Runs `argv` (a machine binary) inside `container`'s network namespace on `host`. */
export async function inContainer(
  host: Host,
  container: string,
  argv: readonly string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const pid = await pidOf(host, container);
  return host.exec(["nsenter", "-t", pid, "-n", ...argv], { timeoutMs: 60_000, ...opts });
}

/** MTU of the interface `container` uses to reach `ip` (from `ip route get` inside it). */
export async function mtuTowards(host: Host, container: string, ip: string): Promise<number> {
  const route = ok(await inContainer(host, container, ["ip", "-o", "route", "get", ip]), "ip route get");
  const dev = / dev (\S+)/.exec(route)?.[1];
  assert.ok(dev, `a route to ${ip} in ${container}: ${route}`);
  const link = ok(await inContainer(host, container, ["ip", "-o", "link", "show", "dev", dev]));
  return Number(/ mtu (\d+)/.exec(link)?.[1]);
}

/** iputils ping with DF set (`-M do`) and `size` bytes of ICMP payload, 2 tries; the result. */
export function dfPing(host: Host, container: string, ip: string, size: number): Promise<ExecResult> {
  const argv = ["ping", "-M", "do", "-c", "2", "-W", "2", "-s", String(size), ip];
  return inContainer(host, container, argv);
}

/** Starts busybox httpd on port 8080 in `container`, serving `text` at /; resolves once it listens. */
export async function serveText(host: Host, container: string, text: string): Promise<void> {
  const script = `mkdir -p /www && echo '${text}' > /www/index.html && httpd -p 8080 -h /www`;
  ok(await host.docker(["exec", container, "sh", "-c", script]), `httpd in ${container}`);
  await eventually(`httpd listens in ${container}`, async () =>
    /:8080\s/.test((await host.docker(["exec", container, "netstat", "-ltn"])).stdout),
  );
}

/** An HTTP GET of / on port 8080 with busybox nc from `container` (3 s to connect); the raw reply. */
export async function httpGet(host: Host, container: string, addr: string): Promise<string> {
  const script = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${addr} 8080`;
  return (await host.docker(["exec", container, "sh", "-c", script], { timeoutMs: 20_000 })).stdout;
}

/** A packet capture running in a network namespace; see {@link startCapture}. */
export interface Capture {
  /** Stops tcpdump (SIGINT, it then flushes) and resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `tcpdump -i IFACE -w FILE` in network namespace `netns` (a name under /run/netns) and
 * resolves once it listens. Immediate mode and packet-buffered (without them the last second or so
 * before the stop is lost), as root (-Z root), full packets.
 */
export async function startCapture(netns: string, iface: string, file: string): Promise<Capture> {
  const argv = [
    `--net=/run/netns/${netns}`,
    "tcpdump",
    "-i",
    iface,
    "--immediate-mode",
    "-U",
    "-Z",
    "root",
    "-s",
    "0",
    "-w",
    file,
  ];
  const child: ChildProcess = spawn("nsenter", argv, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let err = "";
  child.stderr?.on("data", (b: Buffer) => (err += b.toString()));
  const deadline = Date.now() + 10_000;
  while (!err.includes("listening on")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      assert.fail(`tcpdump in ${netns} did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    stop: async () => {
      child.kill("SIGINT");
      await exited;
    },
  };
}

/** One IPv4/IPv6 packet of a capture, as `tcpdump -nn -q -r` prints it. */
export interface Packet {
  family: 4 | 6;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** "UDP", "tcp", "ICMP", "ICMP6", ... (tcpdump's word after the addresses). */
  proto: string;
  line: string;
}

/** Splits tcpdump's `ADDR.PORT` (IPv4: five dotted parts; IPv6: the part after the last dot). */
function addrPort(text: string, family: 4 | 6): { addr: string; port?: number } {
  const parts = text.split(".");
  const hasPort = family === 4 ? parts.length === 5 : parts.length === 2;
  if (!hasPort) return { addr: text };
  return { addr: parts.slice(0, -1).join("."), port: Number(parts[parts.length - 1]) };
}

/** The IP packets of a pcap file (non-IP frames, e.g. ARP, are left out), and its raw bytes. */
export async function readCapture(file: string): Promise<{ packets: Packet[]; bytes: Buffer }> {
  const res = await run(["tcpdump", "-nn", "-q", "-r", file], { timeoutMs: 60_000 });
  assert.equal(res.code, 0, `tcpdump -r ${file}: ${res.stderr}`);
  const packets: Packet[] = [];
  for (const line of res.stdout.split("\n")) {
    const m = /\b(IP6?) (\S+) > (\S+): (\S+)/.exec(line);
    if (!m) continue;
    const family = m[1] === "IP6" ? 6 : 4;
    const src = addrPort(m[2] ?? "", family);
    const dst = addrPort((m[3] ?? "").replace(/:$/, ""), family);
    packets.push({
      family,
      src: src.addr,
      dst: dst.addr,
      ...(src.port === undefined ? {} : { sport: src.port }),
      ...(dst.port === undefined ? {} : { dport: dst.port }),
      proto: (m[4] ?? "").replace(/,$/, ""),
      line,
    });
  }
  return { packets, bytes: await readFile(file) };
}

/** Ping replies as iputils `ping -D` prints them: sequence number and reception time (ms since the epoch). */
export interface PingLog {
  count: number;
  intervalMs: number;
  replies: Map<number, number>;
}

/**
 * Starts iputils ping from `container` to `ip`, `count` packets every `intervalMs` ms (-D: with
 * timestamps); resolves with the parsed log when it ends.
 */
export async function pingLog(
  host: Host,
  container: string,
  ip: string,
  count: number,
  intervalMs: number,
): Promise<PingLog> {
  const argv = ["ping", "-D", "-n", "-c", String(count), "-i", String(intervalMs / 1000), "-W", "1", ip];
  const res = await inContainer(host, container, argv, { timeoutMs: (count * intervalMs) / 1000 + 60_000 });
  const replies = new Map<number, number>();
  for (const m of res.stdout.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+) .*time=([\d.]+) ms/gm)) {
    replies.set(Number(m[2]), Number(m[1]) * 1000 - Number(m[3]));
  }
  assert.ok(replies.size > 0, `ping ${ip} from ${container} got no reply:\n${res.stdout}\n${res.stderr}`);
  return { count, intervalMs, replies };
}

/**
 * The lost packets of a ping log with their estimated send times (ms since the epoch), from the
 * send time of the nearest reply before (or after) and the interval.
 */
export function lostPackets(log: PingLog): { seq: number; sentAt: number }[] {
  const seqs = [...log.replies.keys()].sort((a, b) => a - b);
  const lost: { seq: number; sentAt: number }[] = [];
  for (let seq = 1; seq <= log.count; seq++) {
    if (log.replies.has(seq)) continue;
    const before = seqs.filter((s) => s < seq).pop();
    const ref = before ?? seqs.find((s) => s > seq) ?? seq;
    lost.push({ seq, sentAt: (log.replies.get(ref) ?? 0) + (seq - ref) * log.intervalMs });
  }
  return lost;
}

/** Send time (ms since the epoch) of the last packet answered. */
export function lastAnswered(log: PingLog): number {
  return Math.max(...log.replies.values());
}

/**
 * Node program run in a container's network namespace: counts, per source address, TCP connections
 * whose data holds MARKER and UDP datagrams equal to MARKER on PORT for MS milliseconds, then prints
 * `{"tcp":{ADDR:N},"udp":{ADDR:N}}`. It prints "ready" once both sockets listen.
 */
export const MARKER_SERVER = `
const [port, marker, ms] = process.argv.slice(1);
const seen = { tcp: {}, udp: {} };
const count = (kind, addr) => { seen[kind][addr] = (seen[kind][addr] || 0) + 1; };
const tcp = require("node:net").createServer((s) => {
  let data = "";
  s.on("data", (b) => { data += b; });
  s.on("end", () => { if (data.includes(marker)) count("tcp", s.remoteAddress.replace(/^::ffff:/, "")); s.end(); });
  s.on("error", () => {});
});
const udp = require("node:dgram").createSocket("udp4");
udp.on("message", (m, r) => { if (String(m) === marker) count("udp", r.address); });
let up = 0;
const ready = () => { if (++up === 2) console.log("ready"); };
tcp.listen(Number(port), "0.0.0.0", ready);
udp.bind(Number(port), "0.0.0.0", ready);
setTimeout(() => { console.log(JSON.stringify(seen)); process.exit(0); }, Number(ms));
`;

/** Sends MARKER (100 times) over one TCP connection to ADDR:PORT and 10 UDP datagrams of it, 100 ms apart. */
export const MARKER_CLIENT = `
const [addr, port, marker] = process.argv.slice(1);
const udp = require("node:dgram").createSocket("udp4");
let sent = 0;
const t = setInterval(() => { udp.send(marker, Number(port), addr); if (++sent === 10) clearInterval(t); }, 100);
const s = require("node:net").connect(Number(port), addr, () => s.end(marker.repeat(100)));
s.on("error", (e) => { console.error(e.message); process.exit(1); });
s.on("close", () => setTimeout(() => process.exit(0), 1200));
setTimeout(() => { console.error("timeout"); process.exit(2); }, 15000);
`;

/**
 * Marks `p` (a command running while the test does other things) as handled until it is awaited, so
 * that a failure of the test in between is reported as that failure, not as an unhandled rejection.
 */
export function background<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
