/**
 * Renders weave's nftables rules for `nft -f -`. Pure.
 *
 * Design note: the output is one transaction that first makes sure each table exists
 * (`table inet weave {}`), deletes it, and then defines it in full. nft applies a file atomically, so the
 * kernel goes from the old ruleset to the new one in one step, and applying the same text twice is a
 * no-op in effect. An empty policy list renders only the deletes, which removes both tables.
 *
 * Semantics, per network bridge B (see NetworkPolicy):
 *  - isolation: `forward` drops what arrives from B and leaves through another weave bridge. The
 *    `weave*` wildcard also covers bridges that have no policy (yet);
 *  - internal: `forward` drops everything in or out of B except B-to-B (bridged traffic appears there
 *    with br_netfilter), and `input` drops packets from B to any local unicast address other than the
 *    network's gateways (neighbour discovery stays allowed so an IPv6 gateway can be resolved);
 *  - non-internal: `ip weave-nat` masquerades IPv4 traffic from B's subnets leaving through another
 *    interface (not lo: the host talking to its own addresses keeps its source address).
 */
import { isIP } from "node:net";
import { isInterfaceName, WeaveError } from "../core/index.js";
import type { NetworkPolicy } from "./types.js";

export const NFT_FILTER_TABLE = "inet weave";
export const NFT_NAT_TABLE = "ip weave-nat";

function checkIfname(name: string): string {
  if (!isInterfaceName(name)) {
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid bridge name "${name}" for nftables rules`);
  }
  return `"${name}"`;
}

function splitCidr(text: string): { addr: string; family: 4 | 6; bits?: number } {
  const [addr = "", bitsText] = text.split("/", 2);
  const family = isIP(addr);
  const bits = bitsText === undefined ? undefined : Number(bitsText);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= max))) {
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid address "${text}" in a network policy`);
  }
  return { addr, family: family === 4 ? 4 : 6, ...(bits !== undefined ? { bits } : {}) };
}

function setOf(items: string[]): string {
  return `{ ${items.join(", ")} }`;
}

function forwardRules(policies: readonly NetworkPolicy[]): string[] {
  const rules: string[] = [];
  for (const p of policies) {
    const b = checkIfname(p.bridge);
    if (p.internal) {
      rules.push(`iifname ${b} oifname != ${b} drop`, `oifname ${b} iifname != ${b} drop`);
    } else {
      rules.push(`iifname ${b} oifname "weave*" oifname != ${b} drop`);
    }
  }
  return rules;
}

function inputRules(policies: readonly NetworkPolicy[]): string[] {
  const rules: string[] = [];
  for (const p of policies) {
    if (!p.internal) continue;
    const b = checkIfname(p.bridge);
    const gws = (p.gateways ?? []).map(splitCidr);
    const v4 = gws.filter((g) => g.family === 4).map((g) => g.addr);
    const v6 = gws.filter((g) => g.family === 6).map((g) => g.addr);
    rules.push(`iifname ${b} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept`);
    rules.push(
      v4.length > 0
        ? `iifname ${b} fib daddr type local ip daddr != ${setOf(v4)} drop`
        : `iifname ${b} meta nfproto ipv4 fib daddr type local drop`,
    );
    rules.push(
      v6.length > 0
        ? `iifname ${b} fib daddr type local ip6 daddr != ${setOf(v6)} drop`
        : `iifname ${b} meta nfproto ipv6 fib daddr type local drop`,
    );
  }
  return rules;
}

function natRules(policies: readonly NetworkPolicy[]): string[] {
  const rules: string[] = [];
  for (const p of policies) {
    if (p.internal) continue;
    const b = checkIfname(p.bridge);
    for (const subnet of p.subnets) {
      const s = splitCidr(subnet);
      if (s.family !== 4) continue;
      // Not what the host sends to its own addresses (through lo): a question the host asks weaveDNS
      // at a gateway must keep the gateway as its source, or it would look like another client's.
      rules.push(`ip saddr ${s.addr}/${s.bits ?? 32} oifname != ${b} oifname != "lo" masquerade`);
    }
  }
  return rules;
}

function chain(name: string, header: string, rules: string[]): string[] {
  return [`\tchain ${name} {`, `\t\t${header}`, ...rules.map((r) => `\t\t${r}`), "\t}"];
}

/**
 * Renders the complete nftables transaction for `policies` (text for `nft -f -`). With no policies it
 * removes weave's tables. Deterministic: the same policies give the same text.
 * Throws WEAVE_BAD_REQUEST for a bridge name or address that cannot be rendered safely.
 */
export function renderNftRuleset(policies: readonly NetworkPolicy[]): string {
  const lines = [
    `table ${NFT_FILTER_TABLE} {}`,
    `delete table ${NFT_FILTER_TABLE}`,
    `table ${NFT_NAT_TABLE} {}`,
    `delete table ${NFT_NAT_TABLE}`,
  ];
  if (policies.length > 0) {
    lines.push(
      `table ${NFT_FILTER_TABLE} {`,
      ...chain("forward", "type filter hook forward priority filter; policy accept;", forwardRules(policies)),
      ...chain("input", "type filter hook input priority filter; policy accept;", inputRules(policies)),
      "}",
      `table ${NFT_NAT_TABLE} {`,
      ...chain(
        "postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        natRules(policies),
      ),
      "}",
    );
  }
  return lines.join("\n") + "\n";
}
