/**
 * A slow-client attacker for the e2e tests, run as its own process (ended by its PID):
 *   node --import tsx slow-clients.ts dns HOST PORT COUNT
 *   node --import tsx slow-clients.ts plugin SOCKET_PATH COUNT
 * It keeps COUNT connections open: `dns` starts a 65,535-byte query and trickles one byte per
 * connection every 200 ms (a per-byte idle timer would never fire); `plugin` sends a partial plugin
 * call (headers and the first byte of a body) and stalls; a fifth of them send nothing at all.
 * A closed connection is opened again after 200 ms. Every second it prints
 * `open N held N opened N closed N`: open now, open for at least a second (the server kept them),
 * and totals since start.
 */
import net from "node:net";

const [mode = "dns", ...rest] = process.argv.slice(2);
const target =
  mode === "dns"
    ? { host: rest[0] ?? "127.0.0.1", port: Number(rest[1] ?? "53") }
    : { path: rest[0] ?? "/run/docker/plugins/weave.sock" };
const count = Number((mode === "dns" ? rest[2] : rest[1]) ?? "300");
const stats = { open: 0, opened: 0, closed: 0 };
const trickling = new Set<net.Socket>();
const connectedAt = new Map<net.Socket, number>();

const PARTIAL_CALL =
  "POST /NetworkDriver.Join HTTP/1.1\r\nHost: plugin.moby.localhost\r\nContent-Length: 200\r\n\r\n{";

function connectOne(i: number): void {
  const sock = net.connect(target);
  let connected = false;
  sock.on("error", () => undefined);
  sock.on("connect", () => {
    connected = true;
    connectedAt.set(sock, Date.now());
    stats.open++;
    stats.opened++;
    if (mode === "dns") {
      sock.write(Buffer.from([0xff, 0xff]));
      trickling.add(sock);
    } else if (i % 5 !== 0) sock.write(PARTIAL_CALL);
  });
  sock.on("close", () => {
    trickling.delete(sock);
    connectedAt.delete(sock);
    if (connected) {
      stats.open--;
      stats.closed++;
    }
    setTimeout(() => connectOne(i), 200);
  });
}

for (let i = 0; i < count; i++) connectOne(i);
setInterval(() => {
  for (const s of trickling) if (!s.destroyed) s.write(Buffer.from([0x41]));
}, 200);
setInterval(() => {
  const now = Date.now();
  const held = [...connectedAt.values()].filter((t) => now - t >= 1000).length;
  console.log(`open ${stats.open} held ${held} opened ${stats.opened} closed ${stats.closed}`);
}, 1000);
