/**
 * IP address helpers for weaveDNS: wire bytes of A/AAAA data, canonical text forms, and the
 * reverse-lookup names (in-addr.arpa / ip6.arpa). Pure functions; no DNS resolution.
 */
import { isIPv4 } from "node:net";
import { formatIpv6Groups, parseIpv6Groups } from "../core/index.js";

/** The 4 bytes of a dotted-quad IPv4 address, or undefined when `text` is not one. */
export function parseIpv4(text: string): Uint8Array | undefined {
  if (!isIPv4(text)) return undefined;
  const out = new Uint8Array(4);
  const parts = text.split(".");
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

/** The 16 bytes of an IPv6 address (with `::` and an embedded IPv4 tail), or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  const groups = parseIpv6Groups(text);
  if (!groups) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Canonical text of a 4- or 16-byte address (IPv6 as RFC 5952 lower-case, longest zero run as `::`). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return formatIpv6Groups(groups);
}

/** Canonical text of an IPv4 or IPv6 address, or undefined when `text` is neither. */
export function canonicalIp(text: string): string | undefined {
  const bytes = parseIpv4(text) ?? parseIpv6(text);
  return bytes ? formatIp(bytes) : undefined;
}

const V4_SUFFIX = ".in-addr.arpa.";
const V6_SUFFIX = ".ip6.arpa.";

/**
 * The canonical address a full reverse name stands for (`lowerName` must be lower-case, absolute),
 * or undefined for partial names (`10.in-addr.arpa.`), malformed ones, and other names.
 */
export function addressFromReverseName(lowerName: string): string | undefined {
  if (lowerName.endsWith(V4_SUFFIX)) {
    const parts = lowerName.slice(0, -V4_SUFFIX.length).split(".");
    if (parts.length !== 4) return undefined;
    for (const p of parts) if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    return `${parts[3]}.${parts[2]}.${parts[1]}.${parts[0]}`;
  }
  if (lowerName.endsWith(V6_SUFFIX)) {
    const parts = lowerName.slice(0, -V6_SUFFIX.length).split(".");
    if (parts.length !== 32) return undefined;
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 32; i++) {
      const p = parts[i] ?? "";
      if (!/^[0-9a-f]$/.test(p)) return undefined;
      const nibble = parseInt(p, 16);
      const byteIndex = 15 - (i >> 1);
      bytes[byteIndex] = (bytes[byteIndex] ?? 0) | (i % 2 === 0 ? nibble : nibble << 4);
    }
    return formatIp(bytes);
  }
  return undefined;
}
