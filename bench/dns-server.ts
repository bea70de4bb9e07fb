/**
 * Child process of bench:dns: a weaveDNS server with `hostN.weave.local` (N < NAMES, one A and
 * one AAAA each) on ADDRESS:PORT, with WORKERS extra UDP worker processes.
 * Prints "ready" on stdout once listening; exits on SIGTERM.
 *
 * Usage: node --import tsx bench/dns-server.ts ADDRESS PORT WORKERS NAMES
 */
import { createLogger } from "../src/core/index.js";
import { DnsServer, Zone } from "../src/dns/index.js";
import { benchHost } from "./dns-data.js";

const [address = "127.0.53.1", port = "15353", workers = "1", names = "1000"] = process.argv.slice(2);

async function main(): Promise<void> {
  const zone = new Zone();
  for (let i = 0; i < Number(names); i++) {
    const h = benchHost(i);
    zone.set(`c${i}`, [{ name: h.name, ipv4: [h.ipv4], ipv6: [h.ipv6] }]);
  }
  const logger = createLogger({ level: "warning" });
  const server = new DnsServer({
    zone,
    logger,
    port: Number(port),
    udpWorkers: Number(workers),
    workerLogLevel: "warning",
    upstream: { servers: ["127.0.0.1:9"] },
  });
  await server.start();
  await server.setAddresses([address]);
  process.stdout.write("ready\n");
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`dns-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
