/**
 * Upstream server lists: resolv.conf parsing, `ip[:port]` endpoints, and the loop guard that
 * keeps weaveDNS from forwarding to itself. Pure functions.
 */
import { isIP } from "node:net";
import { WeaveError } from "../core/index.js";
import { canonicalIp } from "./ip.js";

/** A DNS server address and port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** `address:port` (IPv6 in brackets), as used in logs and `--dns-upstream`. */
export function formatEndpoint(e: Endpoint): string {
  return isIP(e.address) === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * Parses `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` (port defaults to 53). Throws
 * WEAVE_CONFIG quoting `text` when it is not an IP address with an optional port 1–65535.
 */
export function parseEndpoint(text: string, defaultPort = 53): Endpoint {
  const bad = (): WeaveError =>
    new WeaveError("WEAVE_CONFIG", `Invalid DNS server "${text}": expected IP or IP:port`);
  let host = text.trim();
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracket) {
    host = bracket[1] ?? "";
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (isIP(host) !== 6) {
    const m = /^([^:]+):(\d+)$/.exec(host);
    if (m) {
      host = m[1] ?? "";
      port = Number(m[2]);
    }
  }
  const [addr, scope] = host.split("%", 2);
  const canon = canonicalIp(addr ?? "");
  if (canon === undefined || !Number.isInteger(port) || port < 1 || port > 65535) throw bad();
  return { address: scope === undefined ? canon : `${canon}%${scope}`, port };
}

/**
 * The `nameserver` entries of a resolv.conf text, in order, port 53 (resolv.conf has no port
 * syntax). Comments (`#`, `;`) and unparseable entries are skipped.
 */
export function parseResolvConf(text: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (!m) continue;
    try {
      out.push(parseEndpoint(m[1] ?? "", 53));
    } catch {
      // glibc ignores entries it cannot parse; so do we.
    }
  }
  return out;
}

/** Docker's embedded DNS inside containers; it forwards to the container's --dns, i.e. to us. */
export const DOCKER_EMBEDDED_DNS = "127.0.0.11";

/**
 * Drops servers that would loop back to weaveDNS: its own listen endpoints (`own`), unspecified
 * addresses (0.0.0.0 and :: mean "this host"), and, for resolv.conf lists (`fromResolvConf`),
 * Docker's embedded DNS at 127.0.0.11.
 */
export function withoutLoops(
  servers: readonly Endpoint[],
  own: readonly Endpoint[],
  fromResolvConf: boolean,
): Endpoint[] {
  return servers.filter((s) => {
    if (s.address === "0.0.0.0" || s.address === "::") return false;
    if (fromResolvConf && s.address === DOCKER_EMBEDDED_DNS) return false;
    return !own.some((o) => o.port === s.port && o.address === s.address);
  });
}
