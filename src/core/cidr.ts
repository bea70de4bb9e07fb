/**
 * CIDR math for IPv4 and IPv6 on bigints. Pure; throws WEAVE_BAD_REQUEST on malformed input.
 * Addresses are plain values `{ family, value }`; prefixes are `{ family, base, bits }` where `base`
 * is always the network address (host bits zero).
 */
import { isIP } from "node:net";
import { WeaveError } from "./errors.js";
import { formatIpv6Groups, parseIpv6Groups } from "./ip6.js";

export type Family = 4 | 6;

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

export interface Prefix {
  readonly family: Family;
  readonly base: bigint;
  readonly bits: number;
}

export function familyWidth(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Parses a plain IPv4/IPv6 address (`10.0.0.1`, `fd00::1`). */
export function parseAddress(text: string): Address {
  // isIP accepts zone IDs ("fe80::1%eth0"); weave addresses never carry one.
  const kind = text.includes("%") ? 0 : isIP(text);
  if (kind === 4) {
    let value = 0n;
    for (const part of text.split(".")) value = (value << 8n) | BigInt(Number(part));
    return { family: 4, value };
  }
  const groups = kind === 6 ? parseIpv6Groups(text) : undefined;
  if (groups) return { family: 6, value: groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n) };
  throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IP address "${text}"`);
}

/** Formats an address in its canonical text form (RFC 5952 for IPv6). */
export function formatAddress(addr: Address): string {
  if (addr.family === 4) {
    const v = addr.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr.value >> BigInt(i * 16)) & 0xffffn));
  return formatIpv6Groups(groups);
}

/** Parses `a.b.c.d/n` or `x::/n`. With `strict`, host bits must be zero. */
export function parsePrefix(text: string, options: { strict?: boolean } = {}): Prefix {
  const slash = text.indexOf("/");
  if (slash < 0) throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid CIDR "${text}": missing "/length"`);
  const addr = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const bits = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || bits > familyWidth(addr.family)) {
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid CIDR "${text}": bad prefix length`);
  }
  const base = addr.value & netmask(addr.family, bits);
  if (options.strict && base !== addr.value) {
    throw new WeaveError(
      "WEAVE_BAD_REQUEST",
      `Invalid CIDR "${text}": host bits are set (did you mean "${formatPrefix({ family: addr.family, base, bits })}"?)`,
    );
  }
  return { family: addr.family, base, bits };
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddress({ family: p.family, value: p.base })}/${p.bits}`;
}

export function netmask(family: Family, bits: number): bigint {
  const width = BigInt(familyWidth(family));
  const all = (1n << width) - 1n;
  return all ^ ((1n << (width - BigInt(bits))) - 1n);
}

export function prefixSize(p: Prefix): bigint {
  return 1n << BigInt(familyWidth(p.family) - p.bits);
}

export function lastAddress(p: Prefix): bigint {
  return p.base + prefixSize(p) - 1n;
}

export function containsAddress(p: Prefix, a: Address): boolean {
  return p.family === a.family && a.value >= p.base && a.value <= lastAddress(p);
}

/** True when `inner` lies entirely inside `outer`. */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family &&
    inner.bits >= outer.bits &&
    (inner.base & netmask(outer.family, outer.bits)) === outer.base
  );
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.family === b.family && a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/**
 * Addresses of `p` that may be given to hosts: all but the network and broadcast addresses for
 * IPv4 prefixes shorter than /31; all but the subnet-router anycast (base) for IPv6 shorter than /127.
 */
export function usableRange(p: Prefix): { first: bigint; last: bigint } {
  const width = familyWidth(p.family);
  if (p.family === 4 && p.bits <= 30) return { first: p.base + 1n, last: lastAddress(p) - 1n };
  if (p.family === 6 && p.bits <= width - 2) return { first: p.base + 1n, last: lastAddress(p) };
  return { first: p.base, last: lastAddress(p) };
}
