/**
 * Pure translation of Docker's CreateNetwork options and weave's records into data-plane specs.
 */
import { createHash } from "node:crypto";
import { MAX_MTU, MIN_MTU, WeaveError } from "../core/index.js";
import type { BridgeSpec, DataplaneState, NetworkPolicy, VethSpec } from "../dataplane/index.js";
import { BRIDGE_PREFIX } from "../dataplane/index.js";
import type { Json, JsonObject } from "../core/index.js";
import type { EndpointRecord, IpamData, NetworkRecord } from "../store/index.js";
import { CLUSTER_ID_OPTION, CLUSTER_ID_PATTERN, clusterIdOf } from "../store/index.js";
import { parsePrefix, formatPrefix } from "../ipam/index.js";

export const OPT_GENERIC = "com.docker.network.generic";
export const OPT_INTERNAL = "com.docker.network.internal";
export const OPT_MTU = "com.docker.network.driver.mtu";
export const OPT_BRIDGE_NAME = "com.docker.network.bridge.name";

export interface ParsedNetworkOptions {
  internal: boolean;
  mtu: number | undefined;
  bridge: string | undefined;
  /** The network's cluster ID when weave created it from the cluster store. */
  clusterId: string | undefined;
  /** Driver options weave does not know; logged, never fatal (daemon.json may add some). */
  unknown: string[];
}

/** Reads the CreateNetwork Options map. Throws WEAVE_BAD_REQUEST on invalid values. */
export function parseNetworkOptions(options: JsonObject): ParsedNetworkOptions {
  const internal = options[OPT_INTERNAL] === true || options[OPT_INTERNAL] === "true";
  const genericRaw: Json | undefined = options[OPT_GENERIC];
  const generic: JsonObject =
    genericRaw && typeof genericRaw === "object" && !Array.isArray(genericRaw) ? genericRaw : {};
  let mtu: number | undefined;
  let bridge: string | undefined;
  let clusterId: string | undefined;
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(generic)) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    if (key === OPT_MTU) {
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < MIN_MTU || n > MAX_MTU) {
        throw new WeaveError(
          "WEAVE_BAD_REQUEST",
          `Invalid option ${OPT_MTU}="${text}": expected ${MIN_MTU} to ${MAX_MTU}`,
        );
      }
      mtu = n;
    } else if (key === OPT_BRIDGE_NAME) {
      if (!/^weave(-[A-Za-z0-9_.]{1,9})?$/.test(text)) {
        throw new WeaveError(
          "WEAVE_BAD_REQUEST",
          `Invalid option ${OPT_BRIDGE_NAME}="${text}": expected "weave" or "weave-" followed by 1 to 9 letters, digits, "_" or "."`,
        );
      }
      bridge = text;
    } else if (key === CLUSTER_ID_OPTION) {
      if (!CLUSTER_ID_PATTERN.test(text)) {
        throw new WeaveError(
          "WEAVE_BAD_REQUEST",
          `Invalid option ${CLUSTER_ID_OPTION}="${text}": weave sets it itself`,
        );
      }
      clusterId = text;
    } else {
      unknown.push(key);
    }
  }
  return { internal, mtu, bridge, clusterId, unknown };
}

/** The default bridge name of a network: `weave-` and the first 9 characters of its ID. */
export function defaultBridgeName(networkId: string): string {
  return BRIDGE_PREFIX + networkId.slice(0, 9);
}

/** The MAC every host gives the bridge of a cluster network (locally administered, from its ID). */
function clusterBridgeMac(clusterId: string): string {
  const h = createHash("sha256").update(`bridge:${clusterId}`).digest();
  return [0x02, ...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The bridge of a network: its gateways (CIDR) as addresses; a shared MAC in a cluster. */
export function bridgeSpec(n: NetworkRecord): BridgeSpec {
  const addresses = [...n.ipv4, ...n.ipv6]
    .map((d) => d.Gateway)
    .filter((g): g is string => typeof g === "string" && g !== "");
  const clusterId = clusterIdOf(n);
  return {
    name: n.bridge,
    mtu: n.mtu,
    addresses,
    ...(clusterId ? { mac: clusterBridgeMac(clusterId) } : {}),
  };
}

/** The traffic policy of a network. */
export function networkPolicy(n: NetworkRecord): NetworkPolicy {
  const subnets = [...n.ipv4, ...n.ipv6].map((d) => formatPrefix(parsePrefix(d.Pool)));
  const gateways = [...n.ipv4, ...n.ipv6]
    .map((d) => d.Gateway?.split("/")[0])
    .filter((g): g is string => typeof g === "string" && g !== "");
  return { bridge: n.bridge, subnets, internal: n.internal, gateways };
}

/** First gateway address (plain IP) of the given IPAM data, or "" when there is none. */
export function firstGateway(data: readonly IpamData[]): string {
  for (const d of data) if (d.Gateway) return d.Gateway.split("/")[0] ?? "";
  return "";
}

/** The data plane the state calls for: every network's bridge and policy, every endpoint's veth. */
export function desiredDataplane(
  networks: readonly NetworkRecord[],
  endpoints: readonly EndpointRecord[],
): DataplaneState {
  const byId = new Map(networks.map((n) => [n.id, n]));
  const veths: VethSpec[] = [];
  for (const ep of endpoints) {
    const n = byId.get(ep.networkId);
    if (n) veths.push(vethSpec(ep, n));
  }
  return { bridges: networks.map(bridgeSpec), veths, policies: networks.map(networkPolicy) };
}

/** The veth of an endpoint. */
export function vethSpec(ep: EndpointRecord, network: NetworkRecord): VethSpec {
  return {
    hostName: ep.hostIf,
    peerName: ep.peerIf,
    bridge: network.bridge,
    mtu: network.mtu,
    peerMac: ep.mac,
  };
}
