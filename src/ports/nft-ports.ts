/**
 * Renders the nftables rules of published ports (table `inet weave-ports`), pure. Applied like
 * weave's other tables: one `nft -f -` transaction that makes sure the table exists, deletes it and
 * defines it in full, so the kernel goes from the old rules to the new ones in one step.
 *
 * Per binding (host port H, container C:P on bridge B):
 *  - prerouting: traffic for H on a local address (a wildcard binding: every local address but
 *    loopback; else the binding's address) is DNATed to C:P, keeping the client's source address.
 *    Containers reaching the host's address (hairpin) come this way too;
 *  - output: the same for traffic the host itself sends, loopback included (127.0.0.1: the bridge
 *    gets net.ipv4.conf.B.route_localnet=1, see localnetBridges);
 *  - postrouting: DNATed traffic from 127.0.0.0/8 into B is masqueraded (a container cannot answer
 *    127.0.0.1), and so is a container's DNATed traffic to itself (hairpin: it would otherwise answer
 *    itself directly, to a connection it made to the host's address). The bridge port is in hairpin
 *    mode (port-dataplane.ts) for the br_netfilter case.
 * Traffic from other machines is never SNATed.
 */
import { isInterfaceName, WeaveError } from "../core/index.js";
import type { PortRule } from "./types.js";

export const NFT_PORTS_TABLE = "inet weave-ports";

function quoteIf(name: string): string {
  if (!isInterfaceName(name))
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid bridge name "${name}" for nftables rules`);
  return `"${name}"`;
}

function isLoopback(rule: PortRule): boolean {
  return rule.family === 4 ? rule.hostIp.startsWith("127.") : rule.hostIp === "::1";
}

function target(rule: PortRule): string {
  const ip = rule.family === 4 ? rule.containerIp : `[${rule.containerIp}]`;
  return `${rule.proto} dport ${rule.hostPort} dnat ${rule.family === 4 ? "ip" : "ip6"} to ${ip}:${rule.containerPort}`;
}

function daddrMatch(rule: PortRule, hook: "prerouting" | "output"): string | undefined {
  const ipKw = rule.family === 4 ? "ip" : "ip6";
  if (rule.hostIp === "0.0.0.0") {
    return hook === "prerouting"
      ? "fib daddr type local ip daddr != 127.0.0.0/8"
      : "fib daddr type local meta nfproto ipv4";
  }
  if (rule.hostIp === "::") return "fib daddr type local ip6 daddr != ::1";
  if (isLoopback(rule)) return hook === "output" && rule.family === 4 ? `ip daddr ${rule.hostIp}` : undefined;
  return `${ipKw} daddr ${rule.hostIp}`;
}

/** Bridges that need route_localnet=1: those with an IPv4 binding the host reaches on 127.0.0.0/8. */
export function localnetBridges(rules: readonly PortRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) if (r.family === 4 && (r.hostIp === "0.0.0.0" || isLoopback(r))) out.add(r.bridge);
  return [...out].sort();
}

/**
 * A container reaching its own published port through a host address: source and destination are
 * the container (Docker's rule). Matched on addresses, not on the input interface: with br_netfilter
 * the DNATed packet is bridged straight back, and that path has no input interface.
 */
function hairpinMatch(rule: PortRule): string {
  const kw = rule.family === 4 ? "ip" : "ip6";
  return `${kw} saddr ${rule.containerIp} ${kw} daddr ${rule.containerIp}`;
}

function chain(name: string, header: string, rules: string[]): string[] {
  return [`\tchain ${name} {`, `\t\t${header}`, ...rules.map((r) => `\t\t${r}`), "\t}"];
}

/**
 * The nftables transaction for `rules` (text for `nft -f -`); with no rules it only removes the
 * table. Deterministic: rules are rendered in the order given. Throws WEAVE_BAD_REQUEST for a bridge
 * name that cannot be rendered safely.
 */
export function renderPortRuleset(rules: readonly PortRule[]): string {
  const lines = [`table ${NFT_PORTS_TABLE} {}`, `delete table ${NFT_PORTS_TABLE}`];
  if (rules.length > 0) {
    const pre: string[] = [];
    const out: string[] = [];
    const post: string[] = [];
    const seen = new Set<string>();
    const hairpin: string[] = [];
    for (const r of rules) {
      const b = quoteIf(r.bridge);
      const p = daddrMatch(r, "prerouting");
      const o = daddrMatch(r, "output");
      if (p) pre.push(`${p} ${target(r)}`);
      if (o) out.push(`${o} ${target(r)}`);
      if (r.family === 4 && !seen.has(b)) {
        seen.add(b);
        post.push(`oifname ${b} ip saddr 127.0.0.0/8 ct status dnat masquerade`);
      }
      hairpin.push(`${hairpinMatch(r)} ${r.proto} dport ${r.containerPort} ct status dnat masquerade`);
    }
    lines.push(
      `table ${NFT_PORTS_TABLE} {`,
      ...chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", pre),
      ...chain("output", "type nat hook output priority -100; policy accept;", out),
      ...chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", [
        ...post,
        ...new Set(hairpin),
      ]),
      "}",
    );
  }
  return lines.join("\n") + "\n";
}
