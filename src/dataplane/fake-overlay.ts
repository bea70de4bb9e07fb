/**
 * An in-memory OverlayDataplane for unit tests. It keeps a small model of the kernel's VXLAN devices,
 * FDB remotes and neighbour entries, plans with the same pure planner as IprouteOverlay, applies the
 * plan to the model with the kernel's semantics, and records the commands the real adapter would run
 * as text (`ip link add vxw4096 mtu 1350 type vxlan ...`, `bridge fdb replace ...`), reads included
 * (`bridge -json fdb show`): like the real adapter, it reads only on full passes (see cached-state.ts).
 */
import { WeaveError } from "../core/index.js";
import { CommandRecorder } from "./fake-commands.js";
import { describeOverlayOp, FLOOD_MAC, overlayOpTool, renderOverlayOp } from "./overlay-planner.js";
import type {
  ObservedFdb,
  ObservedNeigh,
  ObservedOverlay,
  ObservedVxlan,
  OverlayOp,
} from "./overlay-planner.js";
import type { OverlayDataplane, OverlayNetwork, OverlayReconcileOptions } from "./overlay-types.js";
import type { ReconcileReport } from "./types.js";
import { CachedState } from "./cached-state.js";
import { overlayScope } from "./iproute-overlay.js";
import type { OverlayModel } from "./overlay-state.js";
import { applyOverlayOps, overlayModel } from "./overlay-state.js";
import { overlayModelPlan } from "./overlay-slice.js";

/** The commands IprouteOverlay observes with, in order. */
export const OVERLAY_READS = [
  "ip -json -details link show type vxlan",
  "bridge -json fdb show",
  "ip -json neigh show",
];

/** In-memory implementation of the OverlayDataplane port that records its commands. */
export class FakeOverlay extends CommandRecorder implements OverlayDataplane {
  /** What the adapter remembers between full passes (as IprouteOverlay's). */
  readonly cache = new CachedState<OverlayModel, OverlayOp>(applyOverlayOps);
  /** The fake kernel's VXLAN devices by name (foreign ones included). */
  readonly links = new Map<string, ObservedVxlan>();
  fdb: ObservedFdb[] = [];
  neigh: ObservedNeigh[] = [];
  /** Bridges that exist; when undefined, any master bridge is accepted. */
  bridges: Set<string> | undefined;
  private readonly routeMtus = new Map<string, number>();
  private defaultRouteMtu: number | undefined;

  /** Sets what routeMtu returns for `address`, or for any address without its own value. */
  setRouteMtu(mtu: number | undefined, address?: string): void {
    if (address === undefined) this.defaultRouteMtu = mtu;
    else if (mtu === undefined) this.routeMtus.delete(address);
    else this.routeMtus.set(address, mtu);
  }

  /** The model as the real adapter would observe it. */
  observe(): ObservedOverlay {
    return {
      links: [...this.links.values()].map((l) => ({ ...l })),
      fdb: this.fdb.map((e) => ({ ...e })),
      neigh: this.neigh.map((e) => ({ ...e })),
    };
  }

  /**
   * As IprouteOverlay: the reads (recorded) happen when `full` (the default), the first time, after
   * a failure and when the networks change; otherwise the cache stands for them. An injected
   * failure rejects (no retry), leaving the operations before it applied.
   */
  async reconcile(
    desired: readonly OverlayNetwork[],
    options: OverlayReconcileOptions = {},
  ): Promise<ReconcileReport> {
    const plan = overlayModelPlan(desired, options.only);
    const observed = await this.cache.get(async () => this.read(), {
      fresh: options.full ?? true,
      scope: overlayScope(desired),
    });
    const ops = plan(observed);
    try {
      for (const op of ops) {
        for (const line of renderOverlayOp(op)) this.run(`${overlayOpTool(op)} ${line}`);
        this.applyToModel(op);
      }
    } catch (err) {
      this.cache.forget();
      throw err;
    }
    this.cache.applied(ops);
    return { applied: ops.map(describeOverlayOp) };
  }

  /** Records the commands the real adapter reads with and returns the model as it would read it. */
  private read(): OverlayModel {
    for (const cmd of OVERLAY_READS) this.run(cmd);
    return overlayModel(this.observe());
  }

  async routeMtu(address: string): Promise<number | undefined> {
    return this.routeMtus.get(address) ?? this.defaultRouteMtu;
  }

  private need(name: string): ObservedVxlan {
    const link = this.links.get(name);
    if (!link) throw new WeaveError("WEAVE_DATAPLANE", `Cannot find device "${name}"`);
    return link;
  }

  private needBridge(name: string): string {
    if (this.bridges && !this.bridges.has(name)) {
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot find device "${name}"`);
    }
    return name;
  }

  /** Applies one operation with the kernel's semantics (e.g. deleting a device drops its entries). */
  private applyToModel(op: OverlayOp): void {
    switch (op.op) {
      case "delete-vxlan":
        this.links.delete(op.name);
        this.fdb = this.fdb.filter((e) => e.dev !== op.name);
        this.neigh = this.neigh.filter((e) => e.dev !== op.name);
        return;
      case "create-vxlan": {
        const s = op.spec;
        if (this.links.has(s.name)) {
          throw new WeaveError("WEAVE_DATAPLANE", `Cannot create "${s.name}": File exists`);
        }
        const master = this.needBridge(s.bridge);
        this.links.set(s.name, {
          name: s.name,
          vni: s.vni,
          port: s.port,
          local: s.local,
          learning: false,
          proxy: true,
          mtu: s.mtu,
          up: true,
          master,
        });
        return;
      }
      case "fix-vxlan": {
        const link = this.need(op.name);
        if (op.nolearning) link.learning = false;
        if (op.mtu !== undefined) link.mtu = op.mtu;
        if (op.master !== undefined) link.master = this.needBridge(op.master);
        link.up = true;
        return;
      }
      case "del-fdb":
        this.fdb = this.fdb.filter((e) => !(e.dev === op.dev && e.mac === op.mac && e.dst === op.dst));
        return;
      case "add-fdb": {
        this.need(op.dev);
        const same = (e: ObservedFdb): boolean => e.dev === op.dev && e.mac === op.mac;
        const existing = this.fdb.find((e) => same(e) && e.dst === op.dst);
        if (existing) {
          // append and replace both keep an existing remote (and make it permanent)
          existing.permanent = true;
          return;
        }
        // replace: the first remote of the MAC becomes `dst` (others, if any, stay);
        // append (the all-zero flood entry): one more remote
        const first = op.mac === FLOOD_MAC ? -1 : this.fdb.findIndex(same);
        if (first >= 0) this.fdb.splice(first, 1);
        this.fdb.push({ dev: op.dev, mac: op.mac, dst: op.dst, permanent: true });
        return;
      }
      case "del-neigh":
        this.neigh = this.neigh.filter((e) => !(e.dev === op.dev && e.ip === op.ip));
        return;
      case "set-neigh":
        this.need(op.dev);
        this.neigh = this.neigh.filter((e) => !(e.dev === op.dev && e.ip === op.ip));
        this.neigh.push({ dev: op.dev, ip: op.ip, mac: op.mac, permanent: true });
        return;
    }
  }
}
