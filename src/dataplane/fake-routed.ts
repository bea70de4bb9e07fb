/**
 * An in-memory RoutedDataplane for unit tests. It keeps a small model of the kernel's weave routes
 * (protocol 87, main table), proxy neighbour entries and sysctls, plans with the same pure planner as
 * IprouteRouted, applies the plan to the model with the kernel's semantics, and records the commands
 * the real adapter would run as text (`ip route replace 10.40.0.3/32 via 192.168.1.2 proto 87`,
 * `sysctl -qw net.ipv4.neigh.weave.proxy_delay=0`), reads included (`ip -json neigh show proxy`):
 * like the real adapter, it reads only on full passes (see cached-state.ts).
 */
import { isIP } from "node:net";
import { WeaveError } from "../core/index.js";
import { CommandRecorder } from "./fake-commands.js";
import {
  defaultMetric,
  describeRoutedOp,
  hostCidr,
  renderRoutedOp,
  routedOpTool,
  routedPlan,
  routedSysctls,
} from "./routed-planner.js";
import type { ObservedProxy, ObservedRoute, ObservedRouted, RoutedOp } from "./routed-planner.js";
import type { RoutedDataplane, RoutedNetwork } from "./routed-types.js";
import type { ReconcileOptions, ReconcileReport } from "./types.js";
import { CachedState } from "./cached-state.js";
import { routedScope } from "./iproute-routed.js";
import { foldRoutedOps } from "./routed-state.js";

/** The commands IprouteRouted observes its routes and proxy entries with, in order (then `sysctl KEY...`). */
export const ROUTED_READS = [
  "ip -json route show proto 87",
  "ip -json -6 route show proto 87",
  "ip -json neigh show proxy",
];

/** In-memory implementation of the RoutedDataplane port that records its commands. */
export class FakeRouted extends CommandRecorder implements RoutedDataplane {
  /** What the adapter remembers between full passes (as IprouteRouted's). */
  readonly cache = new CachedState<ObservedRouted, RoutedOp>(foldRoutedOps);
  /** The fake kernel's protocol-87 routes of the main table. */
  routes: ObservedRoute[] = [];
  /** Proxy entries (on any device: the real adapter only observes those on weave's bridges). */
  proxies: ObservedProxy[] = [];
  /** Sysctl values by key (procps form); a key that is absent reads as unreadable. */
  readonly sysctls = new Map<string, string>();
  /** Devices that exist (bridges, route devices); when undefined, every device exists. */
  devices: Set<string> | undefined;

  /** The model as the real adapter would observe it (sysctls: every key the model holds). */
  observe(): ObservedRouted {
    return {
      routes: this.routes.map((r) => ({ ...r })),
      proxies: this.proxies.map((p) => ({ ...p })),
      sysctls: Object.fromEntries(this.sysctls),
    };
  }

  /**
   * As IprouteRouted: the reads (recorded) happen when `full` (the default), the first time, after a
   * failure and when the scope changes; otherwise the cache stands for them. An injected failure
   * rejects (no retry), leaving the operations before it applied.
   */
  async reconcile(
    desired: readonly RoutedNetwork[],
    options: ReconcileOptions = {},
  ): Promise<ReconcileReport> {
    const plan = routedPlan(desired);
    const keys = routedSysctls(desired).map(([key]) => key);
    const observed = await this.cache.get(async () => this.read(keys), {
      fresh: options.full ?? true,
      scope: routedScope(desired),
    });
    const ops = plan(observed);
    try {
      for (const op of ops) {
        for (const line of renderRoutedOp(op)) {
          this.run(routedOpTool(op) === "sysctl" ? `sysctl -qw ${line}` : `ip ${line}`);
        }
        this.applyToModel(op);
      }
    } catch (err) {
      this.cache.forget();
      throw err;
    }
    this.cache.applied(ops);
    return { applied: ops.map(describeRoutedOp) };
  }

  /** Records the commands the real adapter reads with and returns the model as it would read it. */
  private read(keys: readonly string[]): ObservedRouted {
    for (const cmd of ROUTED_READS) this.run(cmd);
    if (keys.length > 0) this.run(`sysctl ${keys.join(" ")}`);
    return this.observe();
  }

  private needDevice(name: string): void {
    if (this.devices && !this.devices.has(name)) {
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot find device "${name}"`);
    }
  }

  /** The device a sysctl key names (`net.ipv4.neigh.DEV.proxy_delay`), if any, as `ip` spells it. */
  private static keyDevice(key: string): string | undefined {
    const parts = key.split(".");
    if (parts.length !== 5 || parts[3] === "all" || parts[3] === "default") return undefined;
    return parts[3]?.replaceAll("/", ".");
  }

  /** Applies one operation with the kernel's semantics (a delete of what is gone fails). */
  private applyToModel(op: RoutedOp): void {
    switch (op.op) {
      case "del-route": {
        const i = this.routes.findIndex((r) => r.dst === op.dst && r.metric === op.metric);
        if (i < 0) throw new WeaveError("WEAVE_DATAPLANE", "RTNETLINK answers: No such process");
        this.routes.splice(i, 1);
        return;
      }
      case "set-route": {
        const family = isIP(op.ip) === 6 ? 6 : 4;
        const dst = hostCidr(op.ip);
        const metric = defaultMetric(family);
        if (op.dev !== undefined) this.needDevice(op.dev);
        // replace: the route with the same destination and metric becomes this one.
        this.routes = this.routes.filter((r) => !(r.dst === dst && r.metric === metric));
        const next = op.dev !== undefined ? { dev: op.dev } : { gateway: op.via ?? "" };
        this.routes.push({ family, dst, metric, unicast: true, ...next });
        return;
      }
      case "del-proxy": {
        const before = this.proxies.length;
        this.proxies = this.proxies.filter((p) => !(p.dev === op.dev && p.ip === op.ip));
        if (this.proxies.length === before) {
          throw new WeaveError("WEAVE_DATAPLANE", "RTNETLINK answers: No such file or directory");
        }
        return;
      }
      case "add-proxy":
        this.needDevice(op.dev);
        if (!this.proxies.some((p) => p.dev === op.dev && p.ip === op.ip))
          this.proxies.push({ dev: op.dev, ip: op.ip });
        return;
      case "set-sysctl": {
        const dev = FakeRouted.keyDevice(op.key);
        if (dev !== undefined) this.needDevice(dev);
        this.sysctls.set(op.key, op.value);
        return;
      }
    }
  }
}
