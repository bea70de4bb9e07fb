/**
 * An in-memory RoutedDataplane for unit tests. It keeps a small model of the kernel's weave routes
 * (protocol 87, main table), proxy neighbour entries and sysctls, plans with the same pure planner as
 * IprouteRouted, applies the plan to the model with the kernel's semantics, and records the commands
 * the real adapter would run as text (`ip route replace 10.40.0.3/32 via 192.168.1.2 proto 87`,
 * `sysctl -qw net.ipv4.neigh.weave.proxy_delay=0`).
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
} from "./routed-planner.js";
import type { ObservedProxy, ObservedRoute, ObservedRouted, RoutedOp } from "./routed-planner.js";
import type { RoutedDataplane, RoutedNetwork } from "./routed-types.js";
import type { ReconcileReport } from "./types.js";

/** In-memory implementation of the RoutedDataplane port that records its commands. */
export class FakeRouted extends CommandRecorder implements RoutedDataplane {
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

  async reconcile(desired: readonly RoutedNetwork[]): Promise<ReconcileReport> {
    const ops = routedPlan(desired)(this.observe());
    for (const op of ops) {
      for (const line of renderRoutedOp(op)) {
        this.run(routedOpTool(op) === "sysctl" ? `sysctl -qw ${line}` : `ip ${line}`);
      }
      this.applyToModel(op);
    }
    return { applied: ops.map(describeRoutedOp) };
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
