/** Helpers of the published-port e2e test (test/e2e/ports.test.ts). */
import assert from "node:assert/strict";
import type { Host } from "./harness/index.js";
import { run, TEST_IMAGE } from "./harness/index.js";
import { eventually, ok } from "./lib.js";

/** `curl` from inside `host` (its namespace); the body, or "" when nothing answered within 3 s. */
export async function curl(host: Host, url: string, extra: string[] = []): Promise<string> {
  const res = await host.exec(["curl", "-sS", "-m", "3", "-g", ...extra, url]);
  return res.code === 0 ? res.stdout : "";
}

/**
 * Asserts that `url` answers `body` from inside `host`, trying for up to 15 s (containers start, and
 * this machine is shared, so one 3 s attempt can miss). Fails with the last answer and `diag()`.
 */
export async function reaches(
  host: Host,
  url: string,
  body: string,
  diag?: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = "";
  while (Date.now() < deadline) {
    last = await curl(host, url);
    if (last === body) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.fail(
    `${url} from ${host.name} answered ${JSON.stringify(last)}, not ${JSON.stringify(body)}${diag ? `\n${await diag()}` : ""}`,
  );
}

/**
 * Starts busybox httpd serving "hello from NAME" on port 80 (or `ports`); returns the name once every
 * httpd listens (docker run returns before that).
 */
export async function runWeb(host: Host, name: string, args: string[], ports = [80]): Promise<string> {
  const serve = ports.map((p) => `httpd -p ${p} -h /www;`).join(" ");
  const script = `mkdir -p /www && echo "hello from ${name}" > /www/index.html && ${serve} sleep 3600`;
  ok(
    await host.docker(["run", "-d", "--name", name, ...args, TEST_IMAGE, "sh", "-c", script]),
    `docker run ${name}`,
  );
  await eventually(`httpd listens in ${name}`, async () => {
    const out = (await host.docker(["exec", name, "netstat", "-ltn"])).stdout;
    return ports.every((p) => new RegExp(`:${p}\\s`).test(out));
  });
  return name;
}

/** The `inet weave-ports` table as nft lists it ("" when there is none). */
export async function portsTable(host: Host): Promise<string> {
  const res = await host.sh("nft list table inet weave-ports 2>/dev/null");
  return res.code === 0 ? res.stdout : "";
}

/** The DNAT lines of the ports table that forward host port `port`. */
export async function dnatFor(host: Host, port: number): Promise<string[]> {
  return (await portsTable(host)).split("\n").filter((l) => new RegExp(`dport ${port} dnat`).test(l));
}

/** Host ports in use as listening TCP sockets in `host` (ss -ltnH). */
export async function listening(host: Host, port: number): Promise<boolean> {
  const out = ok(await host.sh(`ss -ltnH 'sport = :${port}'`));
  return out.trim() !== "";
}

/** The PID of a container's main process (in the machine's PID namespace). */
export async function containerPid(host: Host, name: string): Promise<number> {
  return Number(ok(await host.docker(["inspect", "-f", "{{.State.Pid}}", name])));
}

const UDP_SERVER = `
const s = require("node:dgram").createSocket(process.argv[1]);
s.on("message", (m, r) => s.send("pong " + m + " from " + r.address, r.port, r.address, () => process.exit(0)));
s.bind(Number(process.argv[2]), () => console.log("ready"));
setTimeout(() => process.exit(3), 15000);
`;
const UDP_CLIENT = `
const [type, addr, port] = process.argv.slice(1);
const s = require("node:dgram").createSocket(type);
s.on("message", (m) => { console.log(String(m)); process.exit(0); });
const ping = () => s.send("ping", Number(port), addr);
ping(); setInterval(ping, 500);
setTimeout(() => process.exit(2), 6000);
`;

/**
 * A UDP round trip: a server inside the container's network namespace (Node.js entered with nsenter)
 * answers one datagram with the source address it saw; the client runs in `from`. Returns the reply.
 */
export async function udpRoundTrip(
  host: Host,
  container: string,
  containerPort: number,
  from: Host,
  target: string,
  port: number,
): Promise<string> {
  const pid = await containerPid(host, container);
  const type = target.includes(":") ? "udp6" : "udp4";
  const server = run(
    ["nsenter", "-t", String(pid), "-n", "node", "-e", UDP_SERVER, type, String(containerPort)],
    {
      timeoutMs: 20_000,
    },
  );
  await new Promise((r) => setTimeout(r, 700));
  const client = await from.exec(["node", "-e", UDP_CLIENT, type, target, String(port)], {
    timeoutMs: 10_000,
  });
  const served = await server;
  assert.equal(served.code, 0, `UDP server in ${container} got nothing: ${served.stderr}`);
  return ok(client, "udp client");
}

/** An HTTP GET from inside a container with busybox nc (its wget crashes on some builds); the raw reply. */
export async function httpFrom(host: Host, container: string, addr: string, port: number): Promise<string> {
  const script = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${addr} ${port}`;
  return (await host.docker(["exec", container, "sh", "-c", script])).stdout;
}
