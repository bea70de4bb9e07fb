/**
 * The real overlay data plane: kernel VXLAN devices driven by iproute2. It reads with
 * `ip -json -details link show type vxlan`, `bridge -json fdb show` and `ip -json neigh show`, and
 * writes with `ip -batch -` and `bridge -batch -` (lines on stdin). Every process goes through the
 * injected Exec, so tests can run it inside a scratch network namespace.
 *
 * Design note: as in IprouteDataplane, reconcile observes, plans (overlay-planner.ts) and applies,
 * at most BATCH_LINES lines per batch. Between full passes the state observed is the one remembered
 * (cached-state.ts). A batch that fails (something changed in between, e.g. an entry already gone) is
 * retried once after observing again for real; device deletes run one by one so that "Cannot find
 * device" counts as success.
 */
import { isIP } from "node:net";
import { WeaveError } from "../core/index.js";
import { describeOverlayOp, isWeaveVxlanName, overlayOpTool, renderOverlayOp } from "./overlay-planner.js";
import type {
  ObservedFdb,
  ObservedNeigh,
  ObservedOverlay,
  ObservedVxlan,
  OverlayOp,
} from "./overlay-planner.js";
import type { OverlayDataplane, OverlayNetwork, OverlayReconcileOptions } from "./overlay-types.js";
import { normalizeCidr } from "./planner.js";
import { list, num, obj, parseJsonArray, str } from "./ip-json.js";
import type { Obj } from "./ip-json.js";
import { IprouteAdapter } from "./iproute-adapter.js";
import type { ReconcileReport } from "./types.js";
import { CachedState } from "./cached-state.js";
import type { OverlayModel } from "./overlay-state.js";
import { applyOverlayOps, overlayModel } from "./overlay-state.js";
import { overlayModelPlan } from "./overlay-slice.js";
import { logApplied } from "./applied-log.js";

/** Converts `ip -json -details link show type vxlan` output into observed VXLAN links. */
export function parseVxlanLinksJson(text: string): ObservedVxlan[] {
  return parseJsonArray(text, "ip -json -details link show type vxlan")
    .filter((l) => obj(l["linkinfo"])["info_kind"] === "vxlan")
    .map((l) => {
      const data = obj(obj(l["linkinfo"])["info_data"]);
      const master = str(l["master"]);
      return {
        name: str(l["ifname"]) ?? "",
        vni: num(data["id"]),
        port: num(data["port"]),
        local: str(data["local"] ?? data["local6"]),
        learning: data["learning"] === true,
        proxy: data["proxy"] === true,
        mtu: num(l["mtu"]),
        up: list(l["flags"]).includes("UP"),
        ...(master !== undefined ? { master } : {}),
      };
    });
}

/**
 * Converts `bridge -json fdb show` output into the VXLAN remotes of weave's devices: entries of
 * `vxw<digits>` devices that have a `dst`. The device's own and bridge-side entries have none.
 */
export function parseFdbJson(text: string): ObservedFdb[] {
  const out: ObservedFdb[] = [];
  for (const { dev, e } of onWeaveVxlans(text, "bridge -json fdb show", "ifname")) {
    const mac = str(e["mac"]);
    const dst = str(e["dst"]);
    if (mac === undefined || dst === undefined) continue;
    out.push({ dev, mac: mac.toLowerCase(), dst: normalizeCidr(dst), permanent: e["state"] === "permanent" });
  }
  return out;
}

/** Converts `ip -json neigh show` output into the entries of weave's VXLAN devices (not proxy/NOARP). */
export function parseNeighJson(text: string): ObservedNeigh[] {
  const out: ObservedNeigh[] = [];
  for (const { dev, e } of onWeaveVxlans(text, "ip -json neigh show", "dev")) {
    const ip = str(e["dst"]);
    const state = list(e["state"]);
    if (ip === undefined || "proxy" in e || state.includes("NOARP")) continue;
    const mac = str(e["lladdr"])?.toLowerCase();
    out.push({ dev, ip: normalizeCidr(ip), permanent: state.includes("PERMANENT"), ...(mac ? { mac } : {}) });
  }
  return out;
}

/** The entries of the JSON array `what` printed whose device (field `devField`) is a weave VXLAN device. */
function onWeaveVxlans(text: string, what: string, devField: string): { dev: string; e: Obj }[] {
  return parseJsonArray(text, what).flatMap((e) => {
    const dev = str(e[devField]);
    return dev !== undefined && isWeaveVxlanName(dev) ? [{ dev, e }] : [];
  });
}

/**
 * What the overlay's entries hang on besides its own devices: the bridges they are enslaved to.
 * A pass whose networks or bridges differ from the last one's reads the kernel (see CachedState).
 */
export function overlayScope(desired: readonly OverlayNetwork[]): string {
  return desired
    .map((n) => `${n.spec.name}>${n.spec.bridge}`)
    .sort()
    .join(" ");
}

/** FDB and neighbour operations: they name devices, never create or change them (see runBatches). */
function isEntryOp(op: OverlayOp): boolean {
  return op.op === "add-fdb" || op.op === "del-fdb" || op.op === "set-neigh" || op.op === "del-neigh";
}

/**
 * The iproute2 implementation of the OverlayDataplane port. It remembers the state it read and the
 * operations it applied since (CachedState, over an indexed OverlayModel): a pass that is not
 * `full` reads nothing when the networks are the same as the last pass's, and a pass given a slice
 * (`only`) plans and folds in work proportional to the slice.
 */
export class IprouteOverlay extends IprouteAdapter implements OverlayDataplane {
  /** The state last read plus the operations applied since. */
  readonly cache = new CachedState<OverlayModel, OverlayOp>(applyOverlayOps);

  /** Reads weave's VXLAN devices and their FDB remotes and neighbour entries. */
  async observe(): Promise<ObservedOverlay> {
    const links = await this.run(
      "ip",
      ["-json", "-details", "link", "show", "type", "vxlan"],
      "list VXLAN links",
    );
    const fdb = await this.run("bridge", ["-json", "fdb", "show"], "list FDB entries");
    const neigh = await this.run("ip", ["-json", "neigh", "show"], "list neighbour entries");
    return {
      links: parseVxlanLinksJson(links.stdout),
      fdb: parseFdbJson(fdb.stdout),
      neigh: parseNeighJson(neigh.stdout),
    };
  }

  async reconcile(
    desired: readonly OverlayNetwork[],
    options: OverlayReconcileOptions = {},
  ): Promise<ReconcileReport> {
    const plan = overlayModelPlan(desired, options.only);
    const applied = await this.converge({
      observe: async () => overlayModel(await this.observe()),
      plan,
      apply: (ops) => this.apply(ops),
      describe: describeOverlayOp,
      retrying: "Retrying overlay operations",
      cache: this.cache,
      full: options.full ?? true,
      scope: overlayScope(desired),
    });
    return { applied };
  }

  async routeMtu(address: string): Promise<number | undefined> {
    if (isIP(address) === 0) throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid address "${address}"`);
    // No route (e.g. "Network is unreachable") means no MTU, not a failure.
    const res = await this.exec("ip", ["-json", "route", "get", address], { check: false });
    if (res.code !== 0) return undefined;
    const route = parseJsonArray(res.stdout, "ip -json route get")[0];
    const dev = str(route?.["dev"]);
    if (dev === undefined) return undefined;
    // /sys/class/net is the caller's namespace's, not necessarily the Exec's: ask ip.
    const link = await this.run("ip", ["-json", "link", "show", "dev", dev], `read the MTU of "${dev}"`);
    const devMtu = num(parseJsonArray(link.stdout, "ip -json link show")[0]?.["mtu"]);
    const routeMtu = list(route?.["metrics"])
      .map((m) => num(obj(m)["mtu"]))
      .find((m) => m > 0);
    const mtu = routeMtu !== undefined && (devMtu === 0 || routeMtu < devMtu) ? routeMtu : devMtu;
    return mtu > 0 ? mtu : undefined;
  }

  /**
   * Applies ops in order: device deletes one by one, runs of device ops in batches, and runs of
   * entry ops as two chains of batches at once, FDB entries (`bridge`) beside neighbour entries
   * (`ip`): they are independent, and a first pass over 100,000 endpoints takes half the time.
   */
  private async apply(ops: OverlayOp[]): Promise<string[]> {
    let i = 0;
    while (i < ops.length) {
      const op = ops[i] as OverlayOp;
      if (op.op === "delete-vxlan") {
        await this.deleteLink(op.name, "VXLAN device");
        i++;
        continue;
      }
      const entries = isEntryOp(op);
      const run: OverlayOp[] = [];
      for (; i < ops.length; i++) {
        const next = ops[i] as OverlayOp;
        if (next.op === "delete-vxlan" || isEntryOp(next) !== entries) break;
        if (!entries && run.length > 0 && overlayOpTool(next) !== overlayOpTool(op)) break;
        run.push(next);
      }
      if (!entries) {
        await this.runBatches(overlayOpTool(op), run, renderOverlayOp, describeOverlayOp);
        continue;
      }
      const chains = (["bridge", "ip"] as const).map((tool) =>
        this.runBatches(
          tool,
          run.filter((e) => overlayOpTool(e) === tool),
          renderOverlayOp,
          describeOverlayOp,
          true,
        ),
      );
      const failed = (await Promise.allSettled(chains)).find((r) => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    }
    const applied = ops.map(describeOverlayOp);
    logApplied(this.logger, "Overlay changed", applied);
    return applied;
  }
}
