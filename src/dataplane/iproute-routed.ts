/**
 * The real routed data plane, driven by iproute2 and procps `sysctl`. It reads with
 * `ip -json route show proto 87`, `ip -json -6 route show proto 87`, `ip -json neigh show proxy` and
 * `sysctl KEY...`, and writes with `ip -batch -` (lines on stdin) and `sysctl -qw KEY=VALUE...`.
 * Every process goes through the injected Exec, so tests can run it inside a scratch namespace.
 *
 * Design note: as in IprouteOverlay, reconcile observes (or recalls, between full passes: see
 * cached-state.ts), plans (routed-planner.ts) and applies in batches of at most BATCH_LINES lines;
 * a batch that fails (e.g. a route already gone) is retried once after observing again for real.
 */
import { formatAddress, parseAddress } from "../core/index.js";
import { list, obj, num, parseJsonArray, str } from "./ip-json.js";
import { IprouteAdapter } from "./iproute-adapter.js";
import { isWeaveBridgeName } from "./planner.js";
import {
  describeRoutedOp,
  renderRoutedOp,
  routedOpTool,
  routedPlan,
  routedSysctls,
} from "./routed-planner.js";
import type { ObservedProxy, ObservedRoute, ObservedRouted, RoutedOp } from "./routed-planner.js";
import { WEAVE_ROUTE_PROTO } from "./routed-types.js";
import type { RoutedDataplane, RoutedNetwork } from "./routed-types.js";
import type { ReconcileOptions, ReconcileReport } from "./types.js";
import { CachedState, chunkOps } from "./cached-state.js";
import { foldRoutedOps } from "./routed-state.js";
import { logApplied } from "./applied-log.js";

/** Canonical text of an address (RFC 5952 for IPv6); the text itself when it is none. */
function canonicalIp(ip: string): string {
  try {
    return formatAddress(parseAddress(ip));
  } catch {
    return ip;
  }
}

/** Canonical text of an address or `ADDRESS/LEN` as iproute2 prints it (`default` for /0). */
function canonicalDst(dst: string, family: 4 | 6): string {
  if (dst === "default") return family === 4 ? "0.0.0.0/0" : "::/0";
  const [addr = "", len] = dst.split("/");
  return `${canonicalIp(addr)}/${len ?? (family === 4 ? 32 : 128)}`;
}

/**
 * Converts `ip -json [-6] route show proto 87` output (of `family`) into observed routes. The next
 * hop is `gateway` for one of the same family, `via.host` for one of the other.
 */
export function parseRoutedRoutesJson(text: string, family: 4 | 6): ObservedRoute[] {
  const what = `ip -json${family === 6 ? " -6" : ""} route show proto ${WEAVE_ROUTE_PROTO}`;
  return parseJsonArray(text, what).flatMap((r) => {
    const dst = str(r["dst"]);
    if (dst === undefined) return [];
    const hop = str(r["gateway"]) ?? str(obj(r["via"])["host"]);
    const gateway = hop === undefined ? undefined : canonicalIp(hop);
    const dev = str(r["dev"]);
    const type = str(r["type"]);
    return [
      {
        family,
        dst: canonicalDst(dst, family),
        metric: num(r["metric"]),
        unicast: (type === undefined || type === "unicast") && list(r["nexthops"]).length === 0,
        ...(gateway !== undefined ? { gateway } : {}),
        ...(dev !== undefined ? { dev } : {}),
      },
    ];
  });
}

/** Converts `ip -json neigh show proxy` output into the proxy entries on weave's bridges. */
export function parseProxyJson(text: string): ObservedProxy[] {
  return parseJsonArray(text, "ip -json neigh show proxy").flatMap((e) => {
    const dev = str(e["dev"]);
    const dst = str(e["dst"]);
    if (!("proxy" in e) || dev === undefined || dst === undefined || !isWeaveBridgeName(dev)) return [];
    return [{ dev, ip: canonicalIp(dst) }];
  });
}

/** Converts `sysctl KEY...` output (`key = value` lines) into a key -> value record. */
export function parseSysctlOutput(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf(" = ");
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 3).trim();
  }
  return out;
}

/**
 * What the routed state hangs on besides weave's routes: the bridges and sysctl keys in use, and
 * the devices routes go into (the WireGuard device). A pass whose scope differs from the last
 * one's reads the kernel (see CachedState).
 */
export function routedScope(desired: readonly RoutedNetwork[]): string {
  const devices = new Set(
    desired.flatMap((n) => n.remotes.flatMap((r) => (r.dev !== undefined ? [r.dev] : []))),
  );
  const keys = routedSysctls(desired).map(([key]) => key);
  return [...keys.sort(), ...[...devices].sort().map((d) => `dev ${d}`)].join(" ");
}

/**
 * The iproute2 implementation of the RoutedDataplane port. It remembers the state it read and the
 * operations it applied since (CachedState): a pass that is not `full` reads nothing when its
 * scope (routedScope) is the last pass's.
 */
export class IprouteRouted extends IprouteAdapter implements RoutedDataplane {
  /** The state last read plus the operations applied since. */
  readonly cache = new CachedState<ObservedRouted, RoutedOp>(foldRoutedOps);

  /** Reads weave's routes (both families), the proxy entries on weave's bridges and `sysctlKeys`. */
  async observe(sysctlKeys: readonly string[] = []): Promise<ObservedRouted> {
    const proto = String(WEAVE_ROUTE_PROTO);
    const v4 = await this.run("ip", ["-json", "route", "show", "proto", proto], "list weave's routes");
    const v6 = await this.run(
      "ip",
      ["-json", "-6", "route", "show", "proto", proto],
      "list weave's IPv6 routes",
    );
    const proxies = await this.run("ip", ["-json", "neigh", "show", "proxy"], "list proxy entries");
    // A key that cannot be read (no such bridge yet) is left out: the plan then writes it.
    const sysctl =
      sysctlKeys.length > 0 ? await this.exec("sysctl", [...sysctlKeys], { check: false }) : undefined;
    return {
      routes: [...parseRoutedRoutesJson(v4.stdout, 4), ...parseRoutedRoutesJson(v6.stdout, 6)],
      proxies: parseProxyJson(proxies.stdout),
      sysctls: parseSysctlOutput(sysctl?.stdout ?? ""),
    };
  }

  async reconcile(
    desired: readonly RoutedNetwork[],
    options: ReconcileOptions = {},
  ): Promise<ReconcileReport> {
    const plan = routedPlan(desired);
    const keys = routedSysctls(desired).map(([key]) => key);
    const applied = await this.converge({
      observe: () => this.observe(keys),
      plan,
      apply: (ops) => this.apply(ops),
      describe: describeRoutedOp,
      retrying: "Retrying routed operations",
      cache: this.cache,
      full: options.full ?? true,
      scope: routedScope(desired),
    });
    return { applied };
  }

  /** Applies ops in order, runs of same-tool ops in `ip -batch -` or `sysctl -qw` calls. */
  private async apply(ops: RoutedOp[]): Promise<string[]> {
    let i = 0;
    while (i < ops.length) {
      const tool = routedOpTool(ops[i] as RoutedOp);
      const batch: RoutedOp[] = [];
      for (; i < ops.length && routedOpTool(ops[i] as RoutedOp) === tool; i++) batch.push(ops[i] as RoutedOp);
      if (tool === "ip") {
        await this.runBatches("ip", batch, renderRoutedOp, describeRoutedOp);
        continue;
      }
      for (const chunk of chunkOps(batch, renderRoutedOp, this.batchLines)) {
        await this.run(
          "sysctl",
          ["-qw", ...chunk.flatMap(renderRoutedOp)],
          describeRoutedOp(chunk[0] as RoutedOp),
        );
      }
    }
    const applied = ops.map(describeRoutedOp);
    logApplied(this.logger, "Routes changed", applied);
    return applied;
  }
}
