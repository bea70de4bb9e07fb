/**
 * IPv6 text, both ways, as eight 16-bit groups: the one parser and the one RFC 5952 formatter
 * behind the CIDR maths (bigints, cidr.ts) and weaveDNS (wire bytes, dns/ip.ts). Pure.
 */
import { isIPv4, isIPv6 } from "node:net";

/**
 * The eight 16-bit groups of an IPv6 address (`::` expanded, an embedded IPv4 tail such as
 * `::ffff:10.0.0.1` turned into the last two groups), or undefined when `text` is not an IPv6
 * address or carries a zone ID (`fe80::1%eth0`): weave's addresses never do.
 */
export function parseIpv6Groups(text: string): number[] | undefined {
  if (!isIPv6(text) || text.includes("%")) return undefined;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const v4 = text.slice(lastColon + 1);
    if (!isIPv4(v4)) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = v4.split(".").map(Number);
    tail = [(a << 8) | b, (c << 8) | d];
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const [left = "", right] = head.split("::");
  const leftParts = left === "" ? [] : left.split(":");
  const rightParts = right === undefined || right === "" ? [] : right.split(":");
  const zeros = right === undefined ? 0 : 8 - leftParts.length - rightParts.length;
  const groups = [...leftParts, ...Array<string>(zeros).fill("0"), ...rightParts].map((g) => parseInt(g, 16));
  if (tail.length === 2) groups.splice(6, 2, ...tail);
  return groups;
}

/** The RFC 5952 text of eight 16-bit groups: lower case, the longest run of two or more zero groups as `::`. */
export function formatIpv6Groups(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
