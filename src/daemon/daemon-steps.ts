/**
 * The daemon's start and stop steps, in order (lifecycle.ts runs them):
 *   state -> kernel reconciled with the state -> published ports back -> plugin socket -> weaveDNS
 *   -> cluster -> control socket -> status server -> PID file -> Docker sync (outside any plugin
 *   call: default network, adoption, garbage collection).
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import type { Logger } from "../core/index.js";
import type { Dataplane } from "../dataplane/index.js";
import { desiredDataplane } from "../driver/index.js";
import type { PortReserver } from "../ports/index.js";
import type { Daemon } from "./compose.js";
import type { Step } from "./lifecycle.js";

export function daemonSteps(
  d: Daemon,
  o: { config: Config; dataplane: Dataplane; reserver: PortReserver; logger: Logger; advertiseAddr: string },
): Step[] {
  const { config, logger: log } = o;
  const pidFile = join(config.runDir, "weave.pid");
  const optional = (
    name: string,
    part: { start(): Promise<void> | void; close(): Promise<void> } | undefined,
  ) => (part ? [{ name, start: () => part.start(), stop: () => part.close() }] : []);
  return [
    { name: "state", stop: () => d.state.close() },
    { name: "kernel", start: () => reconcileKernel(d, o.dataplane, log) },
    // Published ports come back as they were (held again, rules re-applied) before Docker can call.
    { name: "ports", start: () => d.ports.converge(), stop: () => o.reserver.close() },
    { name: "plugin", start: () => d.plugin.start(), stop: () => d.plugin.close() },
    ...optional("dns", d.dns),
    {
      name: "cluster",
      start: () => {
        d.cluster.start();
        if (config.store !== "") {
          log.info("joining the cluster", {
            store: config.store,
            name: config.name,
            advertiseAddr: o.advertiseAddr,
            vxlanPort: config.vxlanPort,
          });
        }
      },
      stop: () => d.cluster.close(),
    },
    { name: "control", start: () => d.control.start(), stop: () => d.control.close() },
    ...optional("status", d.status),
    {
      name: "pidfile",
      start: () => writeFileSync(pidFile, `${process.pid}\n`),
      stop: () => rmSync(pidFile, { force: true }),
    },
    { name: "docker-sync", start: () => d.sync.start(), stop: () => d.sync.close() },
  ];
}

/**
 * The kernel made to match the state, in "create" mode: orphans are removed later, by the Docker
 * sync, once Docker has said what it still has.
 */
async function reconcileKernel(d: Daemon, dataplane: Dataplane, log: Logger): Promise<void> {
  const desired = desiredDataplane(d.state.listNetworks(), d.state.listEndpoints());
  const report = await dataplane.reconcile(desired, "create");
  if (report.applied.length > 0) log.info("kernel reconciled with the state", { applied: report.applied });
  // With no network on record (first start, or a lost state directory) the rules in the kernel are
  // left as they are until the Docker sync has adopted what Docker still has.
  if (desired.policies.length > 0) await d.driver.applyPolicies();
}
