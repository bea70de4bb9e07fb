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
 *    interface (not lo: the host talking to its own addresses keeps its source address), except
 *    traffic to any weave subnet: between weave hosts (the routed transport) addresses stay as they are;
 *  - across hosts (routed): `forward` drops what arrives from B for another network's subnet, and what
 *    leaves through B from another network's subnet, whatever the devices;
 *  - encrypted (HostPolicy.encrypted, fail closed): plain VXLAN is dropped in `input` and `output`
 *    unless it goes through the WireGuard device, and container traffic between weave subnets that
 *    would leave or arrive through any device but a weave bridge or the WireGuard device is dropped.
 */
import { isIP } from "node:net";
import { isInterfaceName, WeaveError } from "../core/index.js";
import type { NetworkPolicy } from "./types.js";

/** What the host adds to the per-network policies: whether it encrypts between hosts. */
export interface HostPolicy {
  /** Set when a password is set: the WireGuard device and the VXLAN port to keep inside it. */
  encrypted?: { device: string; vxlanPort: number };
}

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

/** The IPv4 and IPv6 subnets of `policies`, as nft prefixes. */
function subnetsOf(policies: readonly NetworkPolicy[]): { v4: string[]; v6: string[] } {
  const all = policies.flatMap((p) => p.subnets.map(splitCidr));
  const text = (s: { addr: string; bits?: number; family: 4 | 6 }) =>
    `${s.addr}/${s.bits ?? (s.family === 4 ? 32 : 128)}`;
  return {
    v4: [...new Set(all.filter((s) => s.family === 4).map(text))],
    v6: [...new Set(all.filter((s) => s.family === 6).map(text))],
  };
}

/** `ip daddr { ... }` style matches for both families (none for an empty family). */
function bySubnets(field: "saddr" | "daddr", nets: { v4: string[]; v6: string[] }, rest: string): string[] {
  return [
    ...(nets.v4.length > 0 ? [`ip ${field} ${setOf(nets.v4)} ${rest}`] : []),
    ...(nets.v6.length > 0 ? [`ip6 ${field} ${setOf(nets.v6)} ${rest}`] : []),
  ];
}

function forwardRules(policies: readonly NetworkPolicy[], host: HostPolicy): string[] {
  const rules: string[] = [];
  for (const p of policies) {
    const b = checkIfname(p.bridge);
    const others = subnetsOf(policies.filter((o) => o.bridge !== p.bridge));
    rules.push(...bySubnets("daddr", others, "drop").map((r) => `iifname ${b} ${r}`));
    rules.push(...bySubnets("saddr", others, "drop").map((r) => `oifname ${b} ${r}`));
    if (p.internal) {
      const own = subnetsOf([p]);
      // Its own subnet on other hosts (routed) stays reachable; nothing else goes in or out.
      rules.push(...bySubnets("daddr", own, "accept").map((r) => `iifname ${b} oifname != "weave*" ${r}`));
      rules.push(...bySubnets("saddr", own, "accept").map((r) => `oifname ${b} iifname != "weave*" ${r}`));
      rules.push(`iifname ${b} oifname != ${b} drop`, `oifname ${b} iifname != ${b} drop`);
    } else {
      rules.push(`iifname ${b} oifname "weave*" oifname != ${b} drop`);
    }
  }
  return [...encryptedForwardRules(policies, host), ...rules];
}

/** Fail closed: container traffic between weave subnets crosses hosts only inside WireGuard. */
function encryptedForwardRules(policies: readonly NetworkPolicy[], host: HostPolicy): string[] {
  if (!host.encrypted) return [];
  const wg = checkIfname(host.encrypted.device);
  const all = subnetsOf(policies);
  return [
    ...bySubnets("daddr", all, "drop").map(
      (r) => `iifname "weave*" oifname != "weave*" oifname != ${wg} ${r}`,
    ),
    ...bySubnets("saddr", all, "drop").map(
      (r) => `oifname "weave*" iifname != "weave*" iifname != ${wg} ${r}`,
    ),
  ];
}

/** Fail closed: VXLAN between hosts only inside WireGuard (chain `input` or `output`). */
function encryptedVxlanRule(host: HostPolicy, dir: "iifname" | "oifname"): string[] {
  if (!host.encrypted) return [];
  const { device, vxlanPort } = host.encrypted;
  if (!Number.isInteger(vxlanPort) || vxlanPort < 1 || vxlanPort > 65535) {
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid VXLAN port ${vxlanPort} for nftables rules`);
  }
  return [`${dir} != ${checkIfname(device)} udp dport ${vxlanPort} drop`];
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
  const weave = subnetsOf(policies).v4;
  const notWeave = weave.length > 0 ? ` ip daddr != ${setOf(weave)}` : "";
  for (const p of policies) {
    if (p.internal) continue;
    const b = checkIfname(p.bridge);
    for (const subnet of p.subnets) {
      const s = splitCidr(subnet);
      if (s.family !== 4) continue;
      // Not what the host sends to its own addresses (through lo): a question the host asks weaveDNS
      // at a gateway must keep the gateway as its source, or it would look like another client's.
      rules.push(`ip saddr ${s.addr}/${s.bits ?? 32}${notWeave} oifname != ${b} oifname != "lo" masquerade`);
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
export function renderNftRuleset(policies: readonly NetworkPolicy[], host: HostPolicy = {}): string {
  const lines = [
    `table ${NFT_FILTER_TABLE} {}`,
    `delete table ${NFT_FILTER_TABLE}`,
    `table ${NFT_NAT_TABLE} {}`,
    `delete table ${NFT_NAT_TABLE}`,
  ];
  if (policies.length > 0 || host.encrypted) {
    lines.push(
      `table ${NFT_FILTER_TABLE} {`,
      ...chain(
        "forward",
        "type filter hook forward priority filter; policy accept;",
        forwardRules(policies, host),
      ),
      ...chain("input", "type filter hook input priority filter; policy accept;", [
        ...encryptedVxlanRule(host, "iifname"),
        ...inputRules(policies),
      ]),
      ...chain(
        "output",
        "type filter hook output priority filter; policy accept;",
        encryptedVxlanRule(host, "oifname"),
      ),
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
