/**
 * Child process of bench:dns: the floor of Node's UDP path. It answers every datagram with one
 * fixed, pre-encoded reply (`host1.weave.local A 10.32.0.1`) carrying the query's ID: no parsing,
 * no lookup, no cache. What weaveDNS costs beyond this is our code; the rest is Node's.
 *
 * Usage: node bench/dns-floor.ts ADDRESS PORT
 */
import dgram from "node:dgram";

const [address = "127.0.55.1", port = "15355"] = process.argv.slice(2);
const reply = Buffer.from(
  "00008580000100010000000005686f737431057765617665056c6f63616c0000010001c00c000100010000000100040a200001",
  "hex",
);
const socket = dgram.createSocket({
  type: "udp4",
  lookup: (addr: string, _family: unknown, cb: (err: Error | null, a: string, f: number) => void) =>
    cb(null, addr, 4),
});
socket.on("message", (msg, rinfo) => {
  const out = Buffer.allocUnsafe(reply.length);
  reply.copy(out);
  out[0] = msg[0] ?? 0;
  out[1] = msg[1] ?? 0;
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(Number(port), address, () => process.stdout.write("ready\n"));
process.on("SIGTERM", () => socket.close(() => process.exit(0)));
