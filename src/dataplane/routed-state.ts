/**
 * The routed transport's observed state after operations, computed without asking the kernel: what
 * IprouteRouted would read back (weave's routes, the proxy entries on weave's bridges, the sysctls)
 * once the operations have run. The cache of IprouteRouted and FakeRouted (cached-state.ts) folds
 * each applied plan in with it.
 */
import { isIP } from "node:net";
import { defaultMetric, hostCidr } from "./routed-planner.js";
import type { ObservedProxy, ObservedRoute, ObservedRouted, RoutedOp } from "./routed-planner.js";

const routeKey = (dst: string, metric: number): string => `${dst} ${metric}`;
const proxyKey = (dev: string, ip: string): string => `${dev} ${ip}`;

/**
 * The observed routed state once `ops` (a plan that was applied without error) have run on the
 * kernel that `state` describes. Pure: `state` is not changed. Linear in the size of the state
 * plus ops.
 */
export function foldRoutedOps(state: ObservedRouted, ops: readonly RoutedOp[]): ObservedRouted {
  const routes = new Map<string, ObservedRoute>(state.routes.map((r) => [routeKey(r.dst, r.metric), r]));
  const proxies = new Map<string, ObservedProxy>(state.proxies.map((p) => [proxyKey(p.dev, p.ip), p]));
  const sysctls = { ...state.sysctls };
  for (const op of ops) {
    switch (op.op) {
      case "del-route":
        routes.delete(routeKey(op.dst, op.metric));
        break;
      case "set-route": {
        // replace: the route with the same destination and (default) metric becomes this one.
        const family = isIP(op.ip) === 6 ? 6 : 4;
        const dst = hostCidr(op.ip);
        const metric = defaultMetric(family);
        const next = op.dev !== undefined ? { dev: op.dev } : { gateway: op.via ?? "" };
        routes.set(routeKey(dst, metric), { family, dst, metric, unicast: true, ...next });
        break;
      }
      case "del-proxy":
        proxies.delete(proxyKey(op.dev, op.ip));
        break;
      case "add-proxy":
        proxies.set(proxyKey(op.dev, op.ip), { dev: op.dev, ip: op.ip });
        break;
      case "set-sysctl":
        sysctls[op.key] = op.value;
        break;
    }
  }
  return { routes: [...routes.values()], proxies: [...proxies.values()], sysctls };
}
