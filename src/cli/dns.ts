/** `weave dns-add | dns-remove | dns-lookup | dns-args` and `weave status dns`. */
import { isIP } from "node:net";
import { WeaveError } from "../core/index.js";
import type { DnsChange, DnsEntryView, DnsStatusView, StatusView } from "../daemon/index.js";
import { callDaemon } from "./control-client.js";
import { appendTable, printJson, printLines } from "./output.js";

/** Parses `IP... [CONTAINER] [-h FQDN] [--net NETWORK]`. */
export function parseDnsArgs(args: readonly string[]): DnsChange {
  const ips: string[] = [];
  let container: string | undefined;
  let fqdn: string | undefined;
  let network: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "-h" || a === "--hostname") {
      fqdn = args[++i];
      if (!fqdn) throw new WeaveError("WEAVE_CONFIG", `${a} needs a name`);
    } else if (a.startsWith("--hostname=")) fqdn = a.slice("--hostname=".length);
    else if (a === "--net" || a === "--network") {
      network = args[++i];
      if (!network) throw new WeaveError("WEAVE_CONFIG", `${a} needs a network name`);
    } else if (a.startsWith("--net=") || a.startsWith("--network=")) {
      network = a.slice(a.indexOf("=") + 1);
      if (!network) throw new WeaveError("WEAVE_CONFIG", `${a} needs a network name`);
    } else if (isIP(a) !== 0) ips.push(a);
    else if (a.startsWith("-")) throw new WeaveError("WEAVE_CONFIG", `Unknown option "${a}"`);
    else if (container === undefined) container = a;
    else
      throw new WeaveError(
        "WEAVE_CONFIG",
        `"${a}" is not an IP address, and a container ("${container}") was given already`,
      );
  }
  const out: DnsChange = { ips };
  if (container !== undefined) out.container = container;
  if (fqdn !== undefined) out.fqdn = fqdn;
  if (network !== undefined) out.network = network;
  return out;
}

/** The change `weave COMMAND args` asks for; a usage error when it names neither container nor FQDN. */
function dnsChange(command: "dns-add" | "dns-remove", args: readonly string[]): DnsChange {
  const change = parseDnsArgs(args);
  if (change.container === undefined && change.fqdn === undefined) {
    throw new WeaveError(
      "WEAVE_CONFIG",
      `Usage: weave ${command} [IP...] [CONTAINER] [-h FQDN] [--net NETWORK]`,
    );
  }
  return change;
}

export async function dnsAdd(socket: string, args: readonly string[]): Promise<number> {
  const change = dnsChange("dns-add", args);
  const res = await callDaemon<{ added: { fqdn: string; address: string; network: string }[] }>(
    socket,
    "POST",
    "/dns/add",
    15_000,
    change,
  );
  return printLines(
    res.added.map((r) => `${r.fqdn} ${r.address}${r.network ? ` (network ${r.network})` : ""}`),
  );
}

export async function dnsRemove(socket: string, args: readonly string[]): Promise<number> {
  const change = dnsChange("dns-remove", args);
  const res = await callDaemon<{ removed: number }>(socket, "POST", "/dns/remove", 15_000, change);
  return printLines([`removed ${res.removed} record${res.removed === 1 ? "" : "s"}`]);
}

export async function dnsLookup(socket: string, args: readonly string[]): Promise<number> {
  const name = args[0];
  if (!name || args.length > 1) throw new WeaveError("WEAVE_CONFIG", "Usage: weave dns-lookup NAME");
  const res = await callDaemon<{ addresses: string[] }>(
    socket,
    "GET",
    `/dns/lookup?name=${encodeURIComponent(name)}`,
  );
  if (res.addresses.length === 0) throw new WeaveError("WEAVE_NOT_FOUND", `${name} is not known to weaveDNS`);
  return printLines(res.addresses);
}

/** The `docker run` flags (or daemon.json keys) that make a container use weaveDNS. */
export async function dnsArgs(socket: string, args: readonly string[]): Promise<number> {
  const s = await callDaemon<StatusView & { dns: DnsStatusView | null }>(socket, "GET", "/status");
  if (!s.dns) throw new WeaveError("WEAVE_UNSUPPORTED", "weaveDNS is off (weave was launched with --no-dns)");
  const preferred = s.networks.find((n) => n.name === s.defaultNetwork.name) ?? s.networks[0];
  const server = preferred?.gateways.find((g) => isIP(g) === 4) ?? preferred?.gateways[0];
  if (!server) throw new WeaveError("WEAVE_NOT_FOUND", "No weave network yet, so weaveDNS has no address");
  const domain = s.dns.domain.replace(/\.$/, "");
  if (args.includes("--json")) return printJson({ dns: [server], "dns-search": [domain] });
  return printLines([`--dns=${server} --dns-search=${domain}`]);
}

export async function statusDns(socket: string, json: boolean): Promise<number> {
  const res = await callDaemon<{ status: DnsStatusView; entries: DnsEntryView[] }>(socket, "GET", "/dns");
  if (json) return printJson(res);
  const st = res.status;
  const lines = [
    `         Domain: ${st.domain}`,
    `      Listening: ${st.addresses.map((a) => `${a}:${st.port}`).join(", ") || "-"}${st.error ? ` (${st.error})` : ""}`,
    `  Docker events: ${st.eventsConnected ? "connected" : "not connected"}`,
    `        Entries: ${res.entries.length}`,
  ];
  for (const r of st.skipped ?? []) {
    const owner = r.container ? ` of container ${r.container.slice(0, 12)}` : "";
    lines.push(`        Skipped: ${r.fqdn} ${r.address}${owner}: ${r.reason}`);
  }
  appendTable(
    lines,
    ["NAME", "ADDRESS", "NETWORK", "ORIGIN", "CONTAINER", "HOST"],
    res.entries.map((e) => [
      e.name,
      e.address,
      e.network || "(all)",
      e.origin,
      e.container || "-",
      e.host || "-",
    ]),
  );
  return printLines(lines);
}
