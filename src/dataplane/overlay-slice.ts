/**
 * The overlay plan for a slice of the entries (see OverlaySlice): what a pass that a few changed
 * containers asked for needs, in work proportional to the slice, not to the cluster. It reads the
 * remembered state through its indexes (OverlayModel) and diffs only the slice's entries, with the
 * same rules as planOverlay; devices are neither created nor changed (a device that is missing is
 * left to the next full pass). The caller guarantees that every entry whose desired state changed
 * since the last pass is in the slice, and that `desired` holds every endpoint with one of the
 * slice's MACs or addresses (others may be left out). Pure.
 */
import { normalizeCidr } from "./planner.js";
import type { ObservedFdb, ObservedNeigh, OverlayOp } from "./overlay-planner.js";
import {
  diffEntries,
  entryOpsInOrder,
  FLOOD_MAC,
  noEntryOps,
  overlayPlan,
  wantedEntries,
} from "./overlay-planner.js";
import type { OverlayModel } from "./overlay-state.js";
import { neighOf, observedOf, remotesOfMac } from "./overlay-state.js";
import type { OverlayNetwork, OverlaySlice } from "./overlay-types.js";

/** The slice with lower-case MACs and canonical addresses. */
function canonical(only: OverlaySlice): OverlaySlice {
  return {
    macs: new Set([...only.macs].map((m) => m.toLowerCase())),
    ips: new Set([...only.ips].map(normalizeCidr)),
    flood: only.flood,
  };
}

/** The operations that make the slice's entries on the desired devices exactly as desired. */
export function planOverlaySlice(
  desired: readonly OverlayNetwork[],
  model: OverlayModel,
  slice: OverlaySlice,
): OverlayOp[] {
  const only = canonical(slice);
  const entries = noEntryOps();
  for (const net of desired) {
    const dev = net.spec.name;
    if (!model.links.has(dev)) continue;
    const fdb: ObservedFdb[] = [];
    for (const mac of only.macs) fdb.push(...remotesOfMac(model, dev, mac));
    if (only.flood) fdb.push(...remotesOfMac(model, dev, FLOOD_MAC));
    const neigh: ObservedNeigh[] = [];
    for (const ip of only.ips) {
      const e = neighOf(model, dev, ip);
      if (e) neigh.push(e);
    }
    diffEntries(dev, wantedEntries(net, only), { fdb, neigh }, entries);
  }
  return entryOpsInOrder(entries);
}

/**
 * Checks `desired` now (validateOverlay: WEAVE_BAD_REQUEST before anything is run) and returns the
 * plan to run against the remembered or observed model later: the slice's, or the whole overlay's.
 */
export function overlayModelPlan(
  desired: readonly OverlayNetwork[],
  only: OverlaySlice | undefined,
): (model: OverlayModel) => OverlayOp[] {
  const whole = overlayPlan(desired);
  return only ? (model) => planOverlaySlice(desired, model, only) : (model) => whole(observedOf(model));
}
