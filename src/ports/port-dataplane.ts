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

/** nftables + sysctl. */
export class NftPortDataplane implements PortDataplane {
  constructor(
    private readonly exec: Exec,
    private readonly logger: Logger,
  ) {}

  async apply(rules: readonly PortRule[]): Promise<void> {
    const text = renderPortRuleset(rules);
    // route_localnet first: a 127.0.0.1 client may connect the moment the rules are in.
    for (const bridge of localnetBridges(rules)) {
      const key = `net.ipv4.conf.${bridge}.route_localnet`;
      const res = await this.exec("sysctl", ["-qw", `${key}=1`], { check: false }).catch((err: unknown) => ({
        code: -1,
        stderr: String(err),
      }));
      // Without it only 127.0.0.0/8 clients on the host fail; everything else works: warn, go on.
      if (res.code !== 0)
        this.logger.warning("cannot set route_localnet", { key, stderr: res.stderr.trim() });
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
    for (const bridge of localnetBridges(rules))
      this.commands.push(`sysctl -qw net.ipv4.conf.${bridge}.route_localnet=1`);
    this.commands.push("nft -f -");
    this.ruleset = renderPortRuleset(rules);
    this.rules = [...rules];
  }
}
