/**
 * What multi-host weave keeps in the cluster store: the key layout and the JSON records, with
 * parsers that never throw (a record written by a newer weave, or damaged by hand, is skipped and
 * logged by the caller, never allowed to crash a host).
 *
 * Layout (every key under /weave/v1/):
 *   peers/<host>                       PeerRecord, under the host's lease
 *   pools/<cidr>                       PoolClaim: a subnet reserved cluster-wide for one network
 *   networks/<name>                    ClusterNetwork: a network every host creates in its Docker
 *   vnis/<vni>                         the cluster ID of the network using that VXLAN ID
 *   blocks/<cluster id>/<cidr>         BlockClaim: an address block owned by one host (no lease)
 *   endpoints/<host>/<cluster id>/<ep> EndpointRecord, under the host's lease
 *   dns/<host>/<owner>                 DnsRecordSet, under the host's lease
 * CIDRs in keys have their "/" replaced by "_".
 */

export const ROOT = "/weave/v1/";
export const PEERS = `${ROOT}peers/`;
export const POOLS = `${ROOT}pools/`;
export const NETWORKS = `${ROOT}networks/`;
export const VNIS = `${ROOT}vnis/`;
export const BLOCKS = `${ROOT}blocks/`;
export const ENDPOINTS = `${ROOT}endpoints/`;
export const DNS = `${ROOT}dns/`;

export const cidrKey = (cidr: string): string => cidr.replace("/", "_");
export const keyCidr = (segment: string): string => segment.replace("_", "/");

export const peerKey = (host: string): string => `${PEERS}${host}`;
export const poolKey = (cidr: string): string => `${POOLS}${cidrKey(cidr)}`;
export const networkKey = (name: string): string => `${NETWORKS}${name}`;
export const vniKey = (vni: number): string => `${VNIS}${vni}`;
export const blockPrefix = (clusterId: string): string => `${BLOCKS}${clusterId}/`;
export const blockKey = (clusterId: string, block: string): string =>
  `${blockPrefix(clusterId)}${cidrKey(block)}`;
export const endpointPrefix = (host: string): string => `${ENDPOINTS}${host}/`;
export const endpointKey = (host: string, clusterId: string, endpointId: string): string =>
  `${endpointPrefix(host)}${clusterId}/${endpointId}`;
export const dnsPrefix = (host: string): string => `${DNS}${host}/`;
export const dnsKey = (host: string, owner: string): string =>
  `${dnsPrefix(host)}${encodeURIComponent(owner)}`;

/** The segments of `key` after `prefix`, or undefined when it does not start with it. */
export function keyParts(key: string, prefix: string): string[] | undefined {
  return key.startsWith(prefix) ? key.slice(prefix.length).split("/") : undefined;
}

export interface PeerRecord {
  name: string;
  /** Underlay IPv4 address VXLAN traffic is sent to. */
  address: string;
  vxlanPort: number;
  version: string;
  startedAt: number;
  /** When the host last renewed its registration (its own clock, ms). */
  seenAt: number;
  /** Set when the host encrypts (launched with a password): how to reach it through WireGuard. */
  wireguard?: PeerWireguard;
}

/** A host's WireGuard identity as it publishes it. Nothing secret: the private key never leaves the host. */
export interface PeerWireguard {
  /** Base64 Curve25519 public key. */
  publicKey: string;
  /** UDP port of its WireGuard device. */
  port: number;
  /** Its tunnel address (IPv6, no prefix length): other transports reach it there inside the tunnel. */
  tunnel: string;
  /** HMAC of the public key under the key the password yields: the same password verifies it. */
  check: string;
}

export interface PoolClaim {
  clusterId: string;
  /** The host that reserved it. */
  host: string;
  createdAt: number;
}

export interface ClusterSubnet {
  pool: string;
  subPool?: string;
  gateway?: string;
  aux?: Record<string, string>;
}

export interface ClusterNetwork {
  clusterId: string;
  name: string;
  vni: number;
  ipv4: ClusterSubnet[];
  ipv6: ClusterSubnet[];
  internal: boolean;
  /** Driver options (`-o`) other than weave.cluster.id, e.g. the MTU option. */
  options: Record<string, string>;
  /** The host that created it. */
  host: string;
  createdAt: number;
  /**
   * Set by `docker network rm` on any host: no host creates it any more, each removes its copy once
   * its containers are gone, and the record goes when no host has containers on it.
   */
  removed?: { host: string; at: number };
}

export interface BlockClaim {
  host: string;
  createdAt: number;
}

export interface PublishedEndpoint {
  mac: string;
  /** CIDR or "". */
  ipv4: string;
  ipv6: string;
}

export interface DnsRecordSet {
  /**
   * `scope`: the network (by name) whose containers see the entry, absent for every network;
   * `member`: the addresses are the owner container's own (see the Zone's views).
   */
  entries: { name: string; ipv4: string[]; ipv6: string[]; scope?: string; member?: boolean }[];
}

function obj(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
const isStr = (v: unknown): v is string => typeof v === "string";
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const strMap = (v: unknown): Record<string, string> | undefined =>
  typeof v === "object" && v !== null && Object.values(v).every(isStr)
    ? (v as Record<string, string>)
    : undefined;
const strList = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every(isStr) ? v : undefined);

export function parsePeer(text: string): PeerRecord | undefined {
  const o = obj(text);
  if (!o || !isStr(o["name"]) || !isStr(o["address"]) || !isNum(o["vxlanPort"])) return undefined;
  return {
    name: o["name"],
    address: o["address"],
    vxlanPort: o["vxlanPort"],
    version: isStr(o["version"]) ? o["version"] : "",
    startedAt: isNum(o["startedAt"]) ? o["startedAt"] : 0,
    seenAt: isNum(o["seenAt"]) ? o["seenAt"] : 0,
    ...wireguardField(o["wireguard"]),
  };
}

function wireguardField(v: unknown): { wireguard?: PeerWireguard } {
  if (typeof v !== "object" || v === null) return {};
  const w = v as Record<string, unknown>;
  const { publicKey, port, tunnel, check } = w;
  if (!isStr(publicKey) || !isNum(port) || !isStr(tunnel) || !isStr(check)) return {};
  return { wireguard: { publicKey, port, tunnel, check } };
}

export function parsePoolClaim(text: string): PoolClaim | undefined {
  const o = obj(text);
  if (!o || !isStr(o["clusterId"]) || !isStr(o["host"])) return undefined;
  return {
    clusterId: o["clusterId"],
    host: o["host"],
    createdAt: isNum(o["createdAt"]) ? o["createdAt"] : 0,
  };
}

function parseSubnets(v: unknown): ClusterSubnet[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: ClusterSubnet[] = [];
  for (const item of v as unknown[]) {
    if (typeof item !== "object" || item === null) return undefined;
    const s = item as Record<string, unknown>;
    if (!isStr(s["pool"])) return undefined;
    const subnet: ClusterSubnet = { pool: s["pool"] };
    if (isStr(s["subPool"])) subnet.subPool = s["subPool"];
    if (isStr(s["gateway"])) subnet.gateway = s["gateway"];
    const aux = strMap(s["aux"]);
    if (aux) subnet.aux = aux;
    out.push(subnet);
  }
  return out;
}

export function parseClusterNetwork(text: string): ClusterNetwork | undefined {
  const o = obj(text);
  if (!o || !isStr(o["clusterId"]) || !isStr(o["name"]) || !isNum(o["vni"])) return undefined;
  const ipv4 = parseSubnets(o["ipv4"]);
  const ipv6 = parseSubnets(o["ipv6"] ?? []);
  if (!ipv4 || !ipv6) return undefined;
  return {
    clusterId: o["clusterId"],
    name: o["name"],
    vni: o["vni"],
    ipv4,
    ipv6,
    internal: o["internal"] === true,
    options: strMap(o["options"]) ?? {},
    host: isStr(o["host"]) ? o["host"] : "",
    createdAt: isNum(o["createdAt"]) ? o["createdAt"] : 0,
    ...removedField(o["removed"]),
  };
}

function removedField(v: unknown): { removed?: { host: string; at: number } } {
  if (typeof v !== "object" || v === null) return {};
  const r = v as Record<string, unknown>;
  return { removed: { host: isStr(r["host"]) ? r["host"] : "", at: isNum(r["at"]) ? r["at"] : 0 } };
}

export function parseBlockClaim(text: string): BlockClaim | undefined {
  const o = obj(text);
  if (!o || !isStr(o["host"])) return undefined;
  return { host: o["host"], createdAt: isNum(o["createdAt"]) ? o["createdAt"] : 0 };
}

export function parsePublishedEndpoint(text: string): PublishedEndpoint | undefined {
  const o = obj(text);
  if (!o || !isStr(o["mac"])) return undefined;
  return { mac: o["mac"], ipv4: isStr(o["ipv4"]) ? o["ipv4"] : "", ipv6: isStr(o["ipv6"]) ? o["ipv6"] : "" };
}

export function parseDnsRecordSet(text: string): DnsRecordSet | undefined {
  const o = obj(text);
  if (!o || !Array.isArray(o["entries"])) return undefined;
  const entries: DnsRecordSet["entries"] = [];
  for (const e of o["entries"] as unknown[]) {
    if (typeof e !== "object" || e === null) return undefined;
    const r = e as Record<string, unknown>;
    const ipv4 = strList(r["ipv4"]);
    const ipv6 = strList(r["ipv6"]);
    if (!isStr(r["name"]) || !ipv4 || !ipv6) return undefined;
    const entry: DnsRecordSet["entries"][number] = { name: r["name"], ipv4, ipv6 };
    if (r["scope"] !== undefined) {
      if (!isStr(r["scope"])) return undefined;
      entry.scope = r["scope"];
    }
    if (r["member"] === true) entry.member = true;
    entries.push(entry);
  }
  return { entries };
}
