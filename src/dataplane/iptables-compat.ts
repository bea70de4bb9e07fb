/**
 * Coexistence with dockerd's iptables rules.
 *
 * Design note: dockerd sets the policy of iptables `filter FORWARD` to DROP. With br_netfilter even
 * traffic between two ports of one bridge traverses FORWARD (with `-i`/`-o` the bridge), so without help
 * every weave packet would be dropped there. nftables cannot override another base chain's drop, so where
 * the policy is DROP we add ACCEPT rules for weave's bridges, tagged `-m comment --comment weave:<bridge>`,
 * and remove tagged rules that are no longer wanted. Isolation is unaffected: it is enforced by weave's
 * own nftables chain, whose drop is final whatever iptables accepts.
 *
 * `diffForwardRules` is pure; `syncIptablesForward` is the thin adapter around it.
 */
import { errorMessage, WeaveError } from "../core/index.js";
import type { Exec, Logger } from "../core/index.js";
import { normalizeCidr } from "./planner.js";
import type { NetworkPolicy } from "./types.js";

/** Comment prefix that marks a FORWARD rule as weave's. */
const IPTABLES_COMMENT_PREFIX = "weave:";

/**
 * The FORWARD rules (arguments after `-A FORWARD`, as `iptables -S` prints them) weave wants for
 * one family. Besides bridged traffic: routed traffic between hosts (the routed transport) arrives
 * from another device with a source in the network's own subnet, and an internal network sends its
 * own subnet's traffic out of the bridge too; weave's nftables chain decides what really passes.
 */
function desiredForwardRules(policies: readonly NetworkPolicy[], family: 4 | 6): string[][] {
  const rules: string[][] = [];
  for (const p of policies) {
    const tag = ["-m", "comment", "--comment", `${IPTABLES_COMMENT_PREFIX}${p.bridge}`];
    rules.push(["-i", p.bridge, "-o", p.bridge, ...tag, "-j", "ACCEPT"]);
    for (const subnet of p.subnets.filter((s) => (s.includes(":") ? 6 : 4) === family)) {
      const cidr = normalizeCidr(subnet);
      rules.push(["-s", cidr, "-o", p.bridge, ...tag, "-j", "ACCEPT"]);
      if (p.internal) rules.push(["-d", cidr, "-i", p.bridge, ...tag, "-j", "ACCEPT"]);
    }
    if (!p.internal) {
      rules.push(["-i", p.bridge, "!", "-o", p.bridge, ...tag, "-j", "ACCEPT"]);
      rules.push([
        "-o",
        p.bridge,
        "-m",
        "conntrack",
        "--ctstate",
        "RELATED,ESTABLISHED",
        ...tag,
        "-j",
        "ACCEPT",
      ]);
      // New connections to a published port (DNATed by weave's `inet weave-ports` table).
      rules.push(["-o", p.bridge, "-m", "conntrack", "--ctstate", "DNAT", ...tag, "-j", "ACCEPT"]);
    }
  }
  return rules;
}

/** Splits one line of `iptables -S` output into arguments, undoing its double quotes. */
export function splitIptablesLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] ?? "";
    if (quoted) {
      if (ch === "\\" && i + 1 < line.length) cur += line[++i] ?? "";
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inToken = true;
    } else if (ch === " " || ch === "\t") {
      if (inToken) out.push(cur);
      cur = "";
      inToken = false;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (inToken) out.push(cur);
  return out;
}

/** What `iptables -S FORWARD` says: the chain policy and the rules (arguments after `-A FORWARD`). */
export interface ForwardListing {
  policy: string | undefined;
  rules: string[][];
}

/** Parses `iptables -S FORWARD` output. */
export function parseForwardListing(text: string): ForwardListing {
  let policy: string | undefined;
  const rules: string[][] = [];
  for (const line of text.split("\n")) {
    const args = splitIptablesLine(line.trim());
    if (args[0] === "-P" && args[1] === "FORWARD") policy = args[2];
    else if (args[0] === "-A" && args[1] === "FORWARD") rules.push(args.slice(2));
  }
  return { policy, rules };
}

function isWeaveRule(args: readonly string[]): boolean {
  const i = args.indexOf("--comment");
  return i >= 0 && (args[i + 1] ?? "").startsWith(IPTABLES_COMMENT_PREFIX);
}

export interface ForwardRuleDiff {
  policyDrop: boolean;
  /** Rules to insert (arguments after `-I FORWARD <position>`). */
  add: string[][];
  /**
   * 1-based position for the inserts: right after dockerd's `-j DOCKER-USER` jump when there is one
   * (so users can still restrict weave traffic in DOCKER-USER, as Docker documents), else 1.
   */
  position: number;
  /** Weave-tagged rules to delete (arguments after `-D FORWARD`); duplicates are removed too. */
  remove: string[][];
}

/**
 * Compares a FORWARD listing with the rules `policies` need. Rules are only wanted while the chain
 * policy is DROP; weave-tagged rules that are not wanted (or duplicated) are removed. Other rules are
 * never touched.
 */
export function diffForwardRules(
  listing: ForwardListing,
  policies: readonly NetworkPolicy[],
  family: 4 | 6 = 4,
): ForwardRuleDiff {
  const policyDrop = listing.policy === "DROP";
  const desired = policyDrop ? desiredForwardRules(policies, family) : [];
  const wanted = new Map(desired.map((r) => [r.join(" "), r]));
  const seen = new Set<string>();
  const remove: string[][] = [];
  for (const rule of listing.rules) {
    if (!isWeaveRule(rule)) continue;
    const key = rule.join(" ");
    if (wanted.has(key) && !seen.has(key)) seen.add(key);
    else remove.push(rule);
  }
  const add = [...wanted].filter(([key]) => !seen.has(key)).map(([, rule]) => rule);
  const removed = new Set(remove);
  const kept = listing.rules.filter((r) => !removed.has(r));
  const userJump = kept.findIndex((r) => r.join(" ") === "-j DOCKER-USER");
  return { policyDrop, add, remove, position: userJump >= 0 ? userJump + 2 : 1 };
}

function isMissingBinary(err: unknown): boolean {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return cause?.code === "ENOENT";
}

/**
 * Makes `filter FORWARD` of each of `binaries` (default iptables and ip6tables) carry exactly the
 * weave rules `policies` need. A missing binary is skipped silently; one that cannot list its chain is
 * skipped with a warning. Returns the commands it ran (e.g. `iptables -I FORWARD 1 ...`).
 * Rejects with WEAVE_DATAPLANE when adding or deleting a rule fails. Spawns processes (may block up to
 * the iptables lock wait of 5 s per command).
 */
export async function syncIptablesForward(
  exec: Exec,
  logger: Logger,
  policies: readonly NetworkPolicy[],
  binaries: readonly string[] = ["iptables", "ip6tables"],
): Promise<string[]> {
  const ran: string[] = [];
  for (const bin of binaries) {
    let listing;
    try {
      listing = await exec(bin, ["-w", "5", "-S", "FORWARD"], { check: false });
    } catch (err) {
      if (isMissingBinary(err)) continue;
      throw err;
    }
    if (listing.code === 127) continue; // not installed (reported by a wrapper such as nsenter)
    if (listing.code !== 0) {
      logger.warning("Cannot list the FORWARD chain; leaving it alone", {
        binary: bin,
        stderr: listing.stderr.trim(),
      });
      continue;
    }
    const diff = diffForwardRules(parseForwardListing(listing.stdout), policies, bin.includes("6") ? 6 : 4);
    const commands = [
      ...diff.remove.map((r) => ["-w", "5", "-D", "FORWARD", ...r]),
      ...diff.add.map((r) => ["-w", "5", "-I", "FORWARD", String(diff.position), ...r]),
    ];
    for (const args of commands) {
      try {
        await exec(bin, args);
      } catch (err) {
        throw new WeaveError(
          "WEAVE_DATAPLANE",
          `Cannot update the FORWARD chain with "${bin} ${args.join(" ")}": ${errorMessage(err)}`,
          { cause: err },
        );
      }
      ran.push(`${bin} ${args.slice(2).join(" ")}`);
    }
  }
  return ran;
}
