/** An `IP:PORT` listen address, such as the `--status-addr` value: `IP:PORT` or `[IPv6]:PORT`. Pure. */
import { isIP } from "node:net";

export interface ListenAddress {
  /** Plain IP address, without brackets. */
  host: string;
  port: number;
}

/** Parses `IP:PORT` or `[IPv6]:PORT` (port 1 to 65535); undefined when the text is not one. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  const family = isIP(host);
  if (family === 0 || (m[1] !== undefined && family !== 6)) return undefined;
  if (port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/** `IP:PORT`, with brackets around an IPv6 address. */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
