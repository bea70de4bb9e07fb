/** `weave stop | status | ps | version`: thin views over the control API. */
import { controlSocketPath, FLAGS } from "../config/index.js";
import type { ClusterStatus } from "../cluster/index.js";
import { VERSION, WeaveError } from "../core/index.js";
import type { DnsStatusView, PsRow, StatusView } from "../daemon/index.js";
import { socketAnswers } from "../plugin-api/index.js";
import { callDaemon } from "./control-client.js";
import { statusPeers } from "./cluster.js";
import { statusDns } from "./dns.js";
import { appendTable, printJson, printLines, table } from "./output.js";

/**
 * The control socket: --run-dir, else WEAVE_RUN_DIR, else the default decide where the daemon is.
 * Only these are read: an unrelated bad WEAVE_* variable must not break `weave status`.
 */
export function controlSocket(args: readonly string[]): { socket: string; rest: string[] } {
  const rest: string[] = [];
  let runDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "--run-dir") runDir = args[++i] ?? "";
    else if (a.startsWith("--run-dir=")) runDir = a.slice("--run-dir=".length);
    else rest.push(a);
  }
  const dir =
    runDir ?? process.env["WEAVE_RUN_DIR"] ?? FLAGS.find((f) => f.key === "runDir")?.default ?? "/run/weave";
  if (dir === "") throw new WeaveError("WEAVE_CONFIG", "--run-dir needs a value");
  return { socket: controlSocketPath(dir), rest };
}

export async function stop(args: readonly string[]): Promise<number> {
  const { socket } = controlSocket(args);
  await callDaemon(socket, "POST", "/stop");
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (!(await socketAnswers(socket))) {
      process.stdout.write("weave stopped\n");
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new WeaveError("WEAVE_TIMEOUT", "weave did not stop within 15 s");
}

export async function status(args: readonly string[]): Promise<number> {
  const { socket, rest } = controlSocket(args);
  const json = rest.includes("--json");
  if (rest[0] === "dns") return statusDns(socket, json);
  if (rest[0] === "peers") return statusPeers(socket, json);
  const s = await callDaemon<StatusView & { dns: DnsStatusView | null; cluster: ClusterStatus | null }>(
    socket,
    "GET",
    "/status",
  );
  if (json) return printJson(s);
  const lines = [
    `        Version: ${s.version}`,
    `            PID: ${s.pid}`,
    `  Plugin socket: ${s.socket}`,
    `      State dir: ${s.stateDir}`,
    `            MTU: ${s.mtu}`,
    `         Docker: ${s.docker.status}${s.docker.error ? ` (${s.docker.error})` : ""}`,
    `       Networks: ${s.networks.length}`,
    `       weaveDNS: ${s.dns ? `${s.dns.domain} on ${s.dns.addresses.join(", ") || "-"}, ${s.dns.entries} entries` : "off"}`,
    `        Cluster: ${clusterLine(s.cluster)}`,
  ];
  appendTable(
    lines,
    ["NETWORK", "ID", "BRIDGE", "SUBNETS", "INTERNAL", "ENDPOINTS"],
    s.networks.map((n) => [
      n.name || "-",
      n.id.slice(0, 12),
      n.bridge,
      n.subnets.join(",") || "-",
      n.internal ? "yes" : "no",
      String(n.endpoints),
    ]),
  );
  return printLines(lines);
}

function clusterLine(c: ClusterStatus | null): string {
  if (!c) return "none (this host alone)";
  const alive = c.peers.filter((p) => p.state !== "gone").length;
  const store = c.store.reachable ? "store reachable" : `store UNREACHABLE (${c.store.error || "no answer"})`;
  const encryption = c.encryption.enabled
    ? `encryption: wireguard (${c.encryption.implementation ?? "starting"})`
    : "encryption: off";
  return `${c.name} (${c.address}), ${alive}/${c.peers.length} peers up, ${store}, ${encryption}`;
}

export async function ps(args: readonly string[]): Promise<number> {
  const { socket } = controlSocket(args);
  const rows = await callDaemon<PsRow[]>(socket, "GET", "/ps");
  return printLines([
    table(
      ["CONTAINER", "NETWORK", "MAC", "IP", "PORTS"],
      rows.map((r) => [
        r.container || r.containerId || `endpoint:${r.endpoint}`,
        r.network,
        r.mac,
        [r.ip, r.ipv6].filter((x) => x !== "").join(",") || "-",
        (r.ports ?? []).join(", "),
      ]),
    ),
  ]);
}

export function version(): number {
  return printLines([`weave ${VERSION}`]);
}
