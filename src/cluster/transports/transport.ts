/**
 * The transport seam. A transport is a planner from the transport-neutral view (transport-view.ts)
 * and the chosen paths (paths.ts) to its own kernel state, behind its own data-plane port. The
 * TransportSync runs every transport on every change, in order; each one handles the paths of its
 * name and removes what it programmed before for paths that are no longer its own. Adding a
 * transport means a planner here and a port in src/dataplane; the cluster and the driver do not change.
 */
import type { ReconcileReport } from "../../dataplane/index.js";
import type { PeerPath } from "../paths.js";
import type { TransportView } from "../transport-view.js";

/** This host's end of the tunnel, when it encrypts. */
export interface TunnelSelf {
  /** The WireGuard device. */
  device: string;
  /** This host's tunnel address (IPv6, plain). */
  address: string;
}

export interface TransportInput {
  view: TransportView;
  /** The usable paths (mismatched peers left out), one per peer. */
  paths: readonly PeerPath[];
  /** This host's underlay address. */
  local: string;
  /** Set when this host encrypts. */
  tunnel?: TunnelSelf;
}

/** What kind of pass runs a transport. */
export interface TransportPass {
  /** True on the periodic pass, the first one and the one after a failure: the transport reads the
   * kernel's state for real (and repairs what changed behind weave's back). False on a pass that a
   * change asked for: the transport may plan against the state it remembers (see
   * src/dataplane/cached-state.ts), so that the pass costs work proportional to the change. */
  full: boolean;
  /** Set on a pass that only some containers' or peers' changes asked for (see TransportSlice). */
  slice?: TransportSlice;
}

/**
 * What a change-driven pass is about, so that it costs work proportional to the change. The view's
 * networks then hold only the remote containers with one of these MACs or addresses; their `peers`
 * are complete when `flood` is true and empty otherwise (nothing reads them then); the view's peers
 * and the paths stay complete. TransportSync gives a slice only when no
 * path is routed, before or after, the tunnel and the networks are as in the last pass, and every
 * container that changed since is in it; a transport then changes only what the slice touches.
 */
export interface TransportSlice {
  /** MACs (lower case) of the containers that changed, as they were and as they are. */
  macs: ReadonlySet<string>;
  /** Their addresses (plain). */
  ips: ReadonlySet<string>;
  /** True when a network's peers or a peer's path may have changed (the flood lists with them). */
  flood: boolean;
  /** True when a peer's record or path changed. */
  peers: boolean;
}

export interface Transport {
  /** For messages and logs, e.g. "vxlan". */
  readonly name: string;
  apply(input: TransportInput, pass: TransportPass): Promise<ReconcileReport>;
}

/** The paths of one transport by peer name. */
export function pathsOf(input: TransportInput, transport: string): Map<string, PeerPath> {
  let byTransport = pathIndexes.get(input.paths);
  if (!byTransport) pathIndexes.set(input.paths, (byTransport = new Map<string, Map<string, PeerPath>>()));
  let index = byTransport.get(transport);
  if (!index) {
    index = new Map(input.paths.filter((p) => p.transport === transport).map((p) => [p.peer, p]));
    byTransport.set(transport, index);
  }
  return index;
}

/**
 * The indexes of pathsOf by paths array: a slice pass reuses the last pass's array (TransportSync
 * keeps it while the paths stay), so its O(hosts) index is built once, not per pass. The arrays are
 * never changed once made.
 */
const pathIndexes = new WeakMap<readonly PeerPath[], Map<string, Map<string, PeerPath>>>();
