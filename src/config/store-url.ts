/**
 * weave's `--store` URL. `etcd://HOST[:PORT][,HOST[:PORT]...]` is an etcd cluster reached over plain
 * HTTP, `etcds://...` the same over TLS; PORT defaults to etcd's 2379 and an IPv6 HOST goes in
 * brackets. Pure: config validates the flag with it, and the daemon turns it into etcd client URLs.
 */
import { isIPv4, isIPv6 } from "node:net";
import { WeaveError } from "../core/index.js";

/** etcd's client port, used when a host of the store URL has none. */
const DEFAULT_ETCD_PORT = 2379;

export interface StoreUrl {
  kind: "etcd";
  /** Client URLs for EtcdStore: `http://HOST:PORT` (etcd://) or `https://HOST:PORT` (etcds://). */
  endpoints: string[];
}

// A DNS name: dot-separated labels of letters, digits and inner hyphens, optionally ending in a dot.
const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

const WHAT_AFTER: Record<string, string> = {
  "/": "a path",
  "?": "a query",
  "#": "a fragment",
  "@": "a user name or password",
};

/**
 * Parses weave's `--store` URL into etcd client URLs, e.g. `etcds://h1,[fd00::2]:2380` ->
 * `["https://h1:2379", "https://[fd00::2]:2380"]`. Pure; never blocks.
 * Throws WeaveError WEAVE_CONFIG naming the bad part: an unknown scheme, no host, an empty, invalid
 * or unbracketed IPv6 host, a bad port, a path, query, fragment or credentials, or white space.
 */
export function parseStoreUrl(url: string): StoreUrl {
  const bad = (why: string) => new WeaveError("WEAVE_CONFIG", `Invalid store URL "${url}": ${why}`);
  const space = /\s/.exec(url);
  if (space) throw bad(`white space at position ${space.index + 1}; remove it`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(url);
  if (!m) throw bad("expected etcd://HOST[:PORT][,HOST[:PORT]...], or etcds://... for TLS");
  const scheme = (m[1] ?? "").toLowerCase();
  const rest = m[2] ?? "";
  if (scheme !== "etcd" && scheme !== "etcds")
    throw bad(`unknown scheme "${m[1] ?? ""}://"; expected etcd:// or etcds:// (TLS)`);
  const extra = /[/?#@]/.exec(rest);
  if (extra) {
    const tail = rest.slice(extra.index);
    throw bad(`${WHAT_AFTER[extra[0]] ?? "a path"} ("${tail}") is not supported; give only HOST[:PORT],...`);
  }
  if (rest === "") throw bad("no host given");
  const protocol = scheme === "etcds" ? "https" : "http";
  const endpoints = rest.split(",").map((part, i) => {
    if (part === "") throw bad(`host ${i + 1} of the comma-separated list is empty`);
    const hostPort = parseHostPort(part);
    if (typeof hostPort === "string") throw bad(hostPort);
    return `${protocol}://${hostPort.host}:${hostPort.port}`;
  });
  return { kind: "etcd", endpoints };
}

/** `{host, port}` of one `HOST[:PORT]` of the list (host bracketed when IPv6), or why it is invalid. */
function parseHostPort(part: string): { host: string; port: number } | string {
  let host: string;
  let port: string | undefined;
  if (part.startsWith("[")) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(part);
    if (!m) return `"${part}" is not [IPv6]:PORT`;
    const address = m[1] ?? "";
    if (address.includes("%")) return `"${part}": IPv6 zone IDs are not supported`;
    if (!isIPv6(address)) return `"${address}" in "${part}" is not an IPv6 address`;
    host = `[${address}]`;
    port = m[2];
  } else {
    const colons = part.split(":").length - 1;
    if (colons > 1) return `"${part}": put an IPv6 address in brackets, e.g. [fd00::1]:2379`;
    [host = "", port] = part.split(":");
    if (host === "") return `"${part}" has no host before the port`;
    if (/^[0-9.]+$/.test(host) ? !isIPv4(host) : !HOSTNAME.test(host))
      return `"${host}" is not a valid host name or IPv4 address`;
  }
  if (port === undefined) return { host, port: DEFAULT_ETCD_PORT };
  const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n >= 1 && n <= 65535)) return `bad port "${port}" in "${part}"; expected 1-65535`;
  return { host, port: n };
}
