/**
 * The data-plane planner: pure functions from (desired state, observed kernel links) to an ordered
 * list of operations, and from operations to the `ip -batch` lines that carry them out.
 *
 * Design note: the adapter observes, plans, then applies; the fake applies the same plan to its
 * in-memory model and records the same lines, so what unit tests assert on is what root would run.
 * Only weave-owned names (see types.ts) are ever deleted as orphans.
 */
import { validateBridgeSpec, validateVethSpec } from "./spec-checks.js";
import { BRIDGE_PREFIX, DEFAULT_BRIDGE, VETH_HOST_PREFIX } from "./types.js";
import type { BridgeSpec, DataplaneState, DesiredState, ReconcileMode, VethSpec } from "./types.js";

/** One kernel link as observed (only the attributes the planner looks at). */
export interface ObservedLink {
  name: string;
  /** `linkinfo.info_kind` (`bridge`, `veth`, ...); undefined for e.g. loopback or physical NICs. */
  kind: string | undefined;
  master?: string;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Non-link-local addresses in CIDR form. */
  addresses: string[];
  mac?: string;
}

export type DataplaneOp =
  /**
   * `mac`: the bridge's MAC address, set at creation so that it never changes. Without it, Linux
   * gives the bridge the lowest MAC of its ports, so a container joining with a lower one would change
   * the gateway's MAC under the other containers' ARP caches (they lose the gateway, DNS included,
   * until their entry expires). The adapter picks it (a random one, as Docker does for its bridges).
   */
  | { op: "create-bridge"; spec: BridgeSpec; mac?: string }
  | {
      op: "fix-bridge";
      name: string;
      mtu?: number;
      mac?: string;
      addAddresses: string[];
      delAddresses: string[];
      setUp: boolean;
    }
  | { op: "delete-bridge"; name: string }
  | { op: "create-veth"; spec: VethSpec }
  | {
      op: "fix-veth";
      hostName: string;
      mtu?: number;
      master?: string;
      setUp: boolean;
      /** Set on the peer when it is still in this namespace. */
      peer?: { name: string; mtu?: number; mac?: string };
    }
  | { op: "delete-veth"; name: string };

/** True for names weave may create and delete as bridges: `weave` and `weave-*`. */
export function isWeaveBridgeName(name: string): boolean {
  return name === DEFAULT_BRIDGE || (name.startsWith(BRIDGE_PREFIX) && name.length > BRIDGE_PREFIX.length);
}

/** True for names of veth host ends weave owns: `vwe*`. */
export function isWeaveVethName(name: string): boolean {
  return name.startsWith(VETH_HOST_PREFIX) && name.length > VETH_HOST_PREFIX.length;
}

/**
 * Canonical text of an address in CIDR form, so that `FD00:0::1/64` equals `fd00::1/64`.
 * Returns the input unchanged when it is not an IPv6 address.
 */
export function normalizeCidr(cidr: string): string {
  const slash = cidr.indexOf("/");
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const suffix = slash < 0 ? "" : cidr.slice(slash);
  if (!addr.includes(":")) return cidr;
  try {
    const host = new URL(`http://[${addr}]/`).hostname;
    return host.slice(1, -1) + suffix;
  } catch {
    return cidr.toLowerCase();
  }
}

function isLinkLocal6(cidr: string): boolean {
  return /^fe[89ab]/i.test(cidr);
}

/**
 * Operations that make one bridge match `spec`: create it when missing, recreate it when the name is
 * taken by a weave-owned link of another kind, otherwise fix MTU, addresses and the up flag.
 * Throws nothing; a foreign (non-weave) link of another kind yields a create that will fail loudly.
 */
export function planBridge(spec: BridgeSpec, observed: ObservedLink | undefined): DataplaneOp[] {
  const create: DataplaneOp = {
    op: "create-bridge",
    spec,
    ...(spec.mac !== undefined ? { mac: spec.mac } : {}),
  };
  if (!observed) return [create];
  if (observed.kind !== "bridge") {
    return isWeaveBridgeName(observed.name)
      ? [{ op: "delete-bridge", name: observed.name }, create]
      : [create];
  }
  const want = new Set(spec.addresses.map(normalizeCidr));
  const have = new Set(observed.addresses.filter((a) => !isLinkLocal6(a)).map(normalizeCidr));
  const addAddresses = [...want].filter((a) => !have.has(a));
  const delAddresses = [...have].filter((a) => !want.has(a));
  const mtuWrong = observed.mtu !== spec.mtu;
  const macWrong = spec.mac !== undefined && observed.mac?.toLowerCase() !== spec.mac.toLowerCase();
  if (!mtuWrong && !macWrong && addAddresses.length === 0 && delAddresses.length === 0 && observed.up)
    return [];
  return [
    {
      op: "fix-bridge",
      name: spec.name,
      ...(mtuWrong ? { mtu: spec.mtu } : {}),
      ...(macWrong && spec.mac !== undefined ? { mac: spec.mac } : {}),
      addAddresses,
      delAddresses,
      setUp: !observed.up,
    },
  ];
}

/**
 * Operations that make one veth pair match `spec`. An existing host end is fixed in place (master,
 * MTU, up; and the peer's MTU and MAC while the peer is still in this namespace); a host end of the
 * wrong kind is deleted and recreated. `forceMaster` re-attaches even if `master` looks right (used
 * when the bridge is recreated by the same plan).
 */
export function planVeth(
  spec: VethSpec,
  host: ObservedLink | undefined,
  peer: ObservedLink | undefined,
  forceMaster = false,
): DataplaneOp[] {
  if (!host) return [{ op: "create-veth", spec }];
  if (host.kind !== "veth") {
    return [
      { op: "delete-veth", name: spec.hostName },
      { op: "create-veth", spec },
    ];
  }
  const masterWrong = forceMaster || host.master !== spec.bridge;
  const mtuWrong = host.mtu !== spec.mtu;
  let peerFix: { name: string; mtu?: number; mac?: string } | undefined;
  if (peer && peer.kind === "veth") {
    const peerMtuWrong = peer.mtu !== spec.mtu;
    const macWrong = spec.peerMac !== undefined && peer.mac?.toLowerCase() !== spec.peerMac.toLowerCase();
    if (peerMtuWrong || macWrong) {
      peerFix = {
        name: spec.peerName,
        ...(peerMtuWrong ? { mtu: spec.mtu } : {}),
        ...(macWrong && spec.peerMac !== undefined ? { mac: spec.peerMac } : {}),
      };
    }
  }
  if (!masterWrong && !mtuWrong && host.up && !peerFix) return [];
  return [
    {
      op: "fix-veth",
      hostName: spec.hostName,
      ...(mtuWrong ? { mtu: spec.mtu } : {}),
      ...(masterWrong ? { master: spec.bridge } : {}),
      setUp: !host.up,
      ...(peerFix ? { peer: peerFix } : {}),
    },
  ];
}

/**
 * The full plan that makes the kernel match `desired`: deletes of orphan veths (`vwe*` of kind veth),
 * then of orphan bridges (`weave`/`weave-*` of kind bridge), then bridge creates/fixes, then veth
 * creates/fixes. Links with other names or kinds are never touched.
 */
export function planReconcile(
  desired: DataplaneState,
  observed: readonly ObservedLink[],
  mode: ReconcileMode = "full",
): DataplaneOp[] {
  const byName = new Map(observed.map((l) => [l.name, l]));
  const wantBridges = new Set(desired.bridges.map((b) => b.name));
  const wantVeths = new Set(desired.veths.map((v) => v.hostName));

  const vethDeletes: DataplaneOp[] = [];
  const bridgeDeletes: DataplaneOp[] = [];
  for (const link of observed) {
    if (link.kind === "veth" && isWeaveVethName(link.name) && !wantVeths.has(link.name)) {
      vethDeletes.push({ op: "delete-veth", name: link.name });
    } else if (link.kind === "bridge" && isWeaveBridgeName(link.name) && !wantBridges.has(link.name)) {
      bridgeDeletes.push({ op: "delete-bridge", name: link.name });
    }
  }

  const bridgeOps: DataplaneOp[] = [];
  const recreated = new Set<string>();
  for (const spec of desired.bridges) {
    const ops = planBridge(spec, byName.get(spec.name));
    if (ops.some((o) => o.op === "create-bridge")) recreated.add(spec.name);
    bridgeOps.push(...ops);
  }

  const vethOps: DataplaneOp[] = [];
  for (const spec of desired.veths) {
    const host = byName.get(spec.hostName);
    vethOps.push(...planVeth(spec, host, byName.get(spec.peerName), recreated.has(spec.bridge)));
  }
  const deletes = mode === "create" ? [] : [...vethDeletes, ...bridgeDeletes];
  const creates = mode === "orphans" ? [] : [...bridgeOps, ...vethOps];
  return [...deletes, ...creates];
}

/**
 * A plan to run against the kernel's links as observed just before: the adapters (real and fake)
 * observe, call it, and apply the operations it returns.
 */
export type LinkPlan = (observed: readonly ObservedLink[]) => DataplaneOp[];

function linkNamed(observed: readonly ObservedLink[], name: string): ObservedLink | undefined {
  return observed.find((l) => l.name === name);
}

/** Checks `spec` now (WEAVE_BAD_REQUEST) and returns the plan that makes its bridge match it. */
export function bridgePlan(spec: BridgeSpec): LinkPlan {
  validateBridgeSpec(spec);
  return (observed) => planBridge(spec, linkNamed(observed, spec.name));
}

/** Checks `spec` now (WEAVE_BAD_REQUEST) and returns the plan that makes its veth pair match it. */
export function vethPlan(spec: VethSpec): LinkPlan {
  validateVethSpec(spec);
  return (observed) => planVeth(spec, linkNamed(observed, spec.hostName), linkNamed(observed, spec.peerName));
}

/**
 * The plan of a reconcile. `desired` is resolved when the plan runs (so a function is called after
 * the kernel was read) and every spec is checked then (WEAVE_BAD_REQUEST); see planReconcile.
 */
export function reconcilePlan(desired: DesiredState, mode: ReconcileMode = "full"): LinkPlan {
  return (observed) => {
    const state = typeof desired === "function" ? desired() : desired;
    state.bridges.forEach(validateBridgeSpec);
    state.veths.forEach(validateVethSpec);
    return planReconcile(state, observed, mode);
  };
}

function ipAddrArgs(cidr: string, dev: string, verb: "add" | "del"): string {
  // IPv6 gateway addresses skip duplicate address detection so they are usable at once.
  const nodad = verb === "add" && cidr.includes(":") ? " nodad" : "";
  return `address ${verb} ${cidr} dev ${dev}${nodad}`;
}

/**
 * The `ip -batch` lines (without the leading `ip`) that carry out one operation, in order.
 * Delete operations render as a single `link del NAME` line.
 */
export function renderOp(op: DataplaneOp): string[] {
  switch (op.op) {
    case "create-bridge": {
      const { name, mtu, addresses } = op.spec;
      return [
        `link add ${name} mtu ${mtu}${op.mac !== undefined ? ` address ${op.mac}` : ""} type bridge`,
        ...addresses.map((a) => ipAddrArgs(a, name, "add")),
        `link set ${name} up`,
      ];
    }
    case "fix-bridge":
      return [
        ...(op.mtu !== undefined ? [`link set ${op.name} mtu ${op.mtu}`] : []),
        ...(op.mac !== undefined ? [`link set ${op.name} address ${op.mac}`] : []),
        ...op.delAddresses.map((a) => ipAddrArgs(a, op.name, "del")),
        ...op.addAddresses.map((a) => ipAddrArgs(a, op.name, "add")),
        ...(op.setUp ? [`link set ${op.name} up`] : []),
      ];
    case "create-veth": {
      const { hostName, peerName, mtu, bridge, peerMac } = op.spec;
      return [
        `link add ${hostName} mtu ${mtu} type veth peer name ${peerName} mtu ${mtu}`,
        ...(peerMac !== undefined ? [`link set ${peerName} address ${peerMac}`] : []),
        `link set ${hostName} master ${bridge} up`,
      ];
    }
    case "fix-veth": {
      const lines: string[] = [];
      if (op.mtu !== undefined) lines.push(`link set ${op.hostName} mtu ${op.mtu}`);
      if (op.peer?.mtu !== undefined) lines.push(`link set ${op.peer.name} mtu ${op.peer.mtu}`);
      if (op.peer?.mac !== undefined) lines.push(`link set ${op.peer.name} address ${op.peer.mac}`);
      if (op.master !== undefined) lines.push(`link set ${op.hostName} master ${op.master}`);
      if (op.setUp) lines.push(`link set ${op.hostName} up`);
      return lines;
    }
    case "delete-bridge":
    case "delete-veth":
      return [`link del ${op.name}`];
  }
}

/** The link an operation is about: the bridge, or the host end of the veth pair. */
function opLink(op: DataplaneOp): string {
  switch (op.op) {
    case "create-bridge":
      return op.spec.name;
    case "create-veth":
      return op.spec.hostName;
    case "fix-veth":
      return op.hostName;
    case "fix-bridge":
    case "delete-bridge":
    case "delete-veth":
      return op.name;
  }
}

/** Short human-readable description of an operation, e.g. `create bridge weave-1a2b3c4d5`. */
export function describeOp(op: DataplaneOp): string {
  return `${op.op.replace("-", " ")} ${opLink(op)}`; // "create-bridge" -> "create bridge"
}
