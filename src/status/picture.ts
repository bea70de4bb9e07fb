/** What the status picture (svg.ts) shows: plain data, assembled by the daemon from its views. */

export interface PictureNetwork {
  id: string;
  /** Docker's name; "" when Docker could not be asked. */
  name: string;
  bridge: string;
  subnets: readonly string[];
  gateways: readonly string[];
  internal: boolean;
  endpoints: number;
}

export interface PictureContainer {
  /** Docker's name; "" when Docker does not list the endpoint. */
  container: string;
  containerId: string;
  /** The network's name (or the first 12 characters of its ID when it has none). */
  network: string;
  endpoint: string;
  ip: string;
  ipv6: string;
}

export interface PictureDns {
  domain: string;
  /** Addresses weaveDNS listens on (plain IPs). */
  addresses: readonly string[];
  entries: number;
  error: string;
}

/**
 * A host of the cluster as `weave status peers --json` lists it (this host included). Only the
 * first three fields are always there; the path fields come with transports (absent: not known).
 */
export interface PicturePeer {
  name: string;
  /** The peer's advertised (underlay) address. */
  address: string;
  /** "self" (this host), "alive" or "gone" (left the cluster). */
  state: string;
  /** When the peer last renewed its registration, by its own clock (ms); 0 when unknown. */
  lastSeen?: number;
  version?: string;
  /** How this host reaches the peer: "routed" or "vxlan"; null for this host and for a peer that is gone. */
  transport?: string | null;
  /** "none", "wireguard" or "mismatch"; null for this host and for a peer that is gone. */
  encryption?: string | null;
  /** The largest IP packet a container here can send to the peer's containers; null when not known. */
  mtu?: number | null;
  /** Seconds since the last WireGuard handshake with the peer; null when never or not encrypted. */
  handshakeAgeS?: number | null;
  /** The path carries traffic; absent (not reported) counts as up while the peer is alive. */
  up?: boolean;
  /** Why the peer is unreachable ("" when it is not), e.g. an encryption mismatch. */
  problem?: string;
}

/** The cluster as `weave status peers --json` shows it (only what the picture draws). */
export interface PictureCluster {
  /** This host's name in the cluster. */
  name: string;
  /** This host's advertised address. */
  address: string;
  /** This host's encryption (WireGuard); absent when not reported. */
  encryption?: { enabled: boolean; implementation: string | null };
  peers: readonly PicturePeer[];
}

/** What the picture shows: `weave status --json` and `weave ps` of this host, plus its peers. */
export interface StatusPicture {
  hostname: string;
  /** When the data was read (shown as is), e.g. an ISO 8601 time. */
  generatedAt: string;
  status: {
    version: string;
    pid: number;
    mtu: number;
    docker: { status: string; error: string };
    networks: readonly PictureNetwork[];
  };
  /** null when weaveDNS is off. */
  dns: PictureDns | null;
  containers: readonly PictureContainer[];
  /** The peers as the metrics count them: `up` or `down` (a host alone: itself, up). */
  peers: readonly { name: string; state: string }[];
  /** The cluster and the path to each peer; absent on a host alone (no cluster section). */
  cluster?: PictureCluster;
}
