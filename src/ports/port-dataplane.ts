/**
 * The data-plane port of published ports: applies the rendered `inet weave-ports` table and the
 * route_localnet sysctl its loopback rules need. The fake records the same commands and text.
 */
import type { Exec, Logger } from "../core/index.js";
import { WeaveError } from "../core/index.js";
import { localnetBridges, renderPortRuleset } from "./nft-ports.js";
import type { PortRule } from "./types.js";

export interface PortDataplane {
  /** Replaces every published-port rule with `rules` (atomically). Rejects WEAVE_DATAPLANE. */
  apply(rules: readonly PortRule[]): Promise<void>;
}

/**
 * The kernel settings published ports need, as commands: route_localnet on bridges reached from
 * 127.0.0.1; hairpin mode on the endpoint's bridge port (with br_netfilter, a container's traffic to its
 * own published port is bridged back out of the port it came in on); IPv6 forwarding for IPv6 bindings
 * (Docker sets it too for IPv6 networks).
 */
export function portSettings(rules: readonly PortRule[]): string[][] {
  const out = localnetBridges(rules).map((b) => ["sysctl", "-qw", `net.ipv4.conf.${b}.route_localnet=1`]);
  for (const ifname of [...new Set(rules.map((r) => r.hostIf))].sort()) {
    out.push(["ip", "link", "set", "dev", ifname, "type", "bridge_slave", "hairpin", "on"]);
  }
  if (rules.some((r) => r.family === 6)) out.push(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  return out;
}

/** nftables + sysctl. */
export class NftPortDataplane implements PortDataplane {
  constructor(
    private readonly exec: Exec,
    private readonly logger: Logger,
  ) {}

  async apply(rules: readonly PortRule[]): Promise<void> {
    const text = renderPortRuleset(rules);
    // Kernel settings first: a client may connect the moment the rules are in. Without one of them
    // only some paths fail (127.0.0.1 clients, hairpin, IPv6 from outside): warn and go on.
    for (const [file = "", ...args] of portSettings(rules)) {
      const res = await this.exec(file, args, { check: false }).catch((err: unknown) => ({
        code: -1,
        stderr: String(err),
      }));
      if (res.code !== 0) {
        const command = [file, ...args].join(" ");
        this.logger.warning("cannot apply a kernel setting for published ports", {
          command,
          stderr: res.stderr.trim(),
        });
      }
    }
    const res = await this.exec("nft", ["-f", "-"], { check: false, input: text });
    if (res.code !== 0) {
      throw new WeaveError(
        "WEAVE_DATAPLANE",
        `Cannot apply the published-port rules with "nft -f -" (exit ${res.code}): ${res.stderr.trim()}`,
      );
    }
  }
}

/** Records what NftPortDataplane would run. */
export class FakePortDataplane implements PortDataplane {
  readonly commands: string[] = [];
  /** Text of the last apply ("" before the first). */
  ruleset = "";
  rules: PortRule[] = [];
  failNext = false;

  async apply(rules: readonly PortRule[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new WeaveError("WEAVE_DATAPLANE", 'Command "nft -f -" failed (injected)');
    }
    for (const argv of portSettings(rules)) this.commands.push(argv.join(" "));
    this.commands.push("nft -f -");
    this.ruleset = renderPortRuleset(rules);
    this.rules = [...rules];
  }
}
