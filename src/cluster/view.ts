/**
 * The cluster as this host sees it: typed, parsed views over the mirrored prefixes (peers, pools,
 * networks, endpoints, DNS). Parsing is cached per key and modRevision, so reading a view on every
 * change costs little. Records that do not parse are skipped (and logged once by their key).
 *
 * The endpoints (100,000 at 1,000 hosts) are parsed once, as the mirror takes them (endpointKeeper):
 * the mirror holds the parsed endpoint alone, with its host's name and its network's cluster ID
 * interned, and its store key the same string as the mirror's.
 */
import type { Logger } from "../core/index.js";
import { Interner } from "../core/index.js";
import type { KeyValue } from "../store/index.js";
import type { PrefixMirror } from "./mirror.js";
import type { ClusterNetwork, PeerRecord, PoolClaim, PublishedEndpoint } from "./records.js";
import {
  ENDPOINTS,
  keyCidr,
  keyParts,
  NETWORKS,
  parseClusterNetwork,
  parsePeer,
  parsePoolClaim,
  parsePublishedEndpoint,
  PEERS,
  POOLS,
} from "./records.js";

export interface RemoteEndpointView extends PublishedEndpoint {
  host: string;
  clusterId: string;
  /** Its store key (endpoints/<host>/<cluster id>/<endpoint id>). */
  key: string;
}

export interface Mirrors {
  peers: PrefixMirror;
  pools: PrefixMirror;
  networks: PrefixMirror;
  /** Parsed as they come (endpointKeeper): undefined for a record that does not parse. */
  endpoints: PrefixMirror<RemoteEndpointView | undefined>;
}

/**
 * What the endpoints' mirror keeps of a record: the parsed endpoint, or undefined (logged once per
 * key) when it does not parse. Hosts' names and cluster IDs are interned: each is held once, not
 * once per endpoint.
 */
export function endpointKeeper(logger: Logger): (kv: KeyValue) => RemoteEndpointView | undefined {
  const names = new Interner();
  const warned = new Set<string>();
  return (kv) => {
    const parts = keyParts(kv.key, ENDPOINTS);
    const ep = parsePublishedEndpoint(kv.value);
    if (!parts || parts.length !== 3 || !ep) {
      if (!warned.has(kv.key)) {
        warned.add(kv.key);
        logger.warning("ignoring a cluster record weave cannot read", { key: kv.key });
      }
      return undefined;
    }
    const [host = "", clusterId = ""] = parts;
    return {
      mac: ep.mac,
      ipv4: ep.ipv4,
      ipv6: ep.ipv6,
      host: names.intern(host),
      clusterId: names.intern(clusterId),
      key: kv.key,
    };
  };
}

class ParseCache<T> {
  private readonly cache = new Map<string, { rev: number; value: T | undefined }>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly parse: (kv: KeyValue) => T | undefined,
    private readonly logger: Logger,
  ) {}

  all(entries: Iterable<KeyValue>): T[] {
    const out: T[] = [];
    const seen = new Set<string>();
    for (const kv of entries) {
      seen.add(kv.key);
      const value = this.one(kv);
      if (value !== undefined) out.push(value);
    }
    for (const key of this.cache.keys()) if (!seen.has(key)) this.cache.delete(key);
    return out;
  }

  /** The parsed value of one record (cached by key and modRevision). */
  one(kv: KeyValue): T | undefined {
    let hit = this.cache.get(kv.key);
    if (!hit || hit.rev !== kv.modRevision) {
      hit = { rev: kv.modRevision, value: this.parse(kv) };
      this.cache.set(kv.key, hit);
      if (hit.value === undefined && !this.warned.has(kv.key)) {
        this.warned.add(kv.key);
        this.logger.warning("ignoring a cluster record weave cannot read", { key: kv.key });
      }
    }
    return hit.value;
  }
}

export class ClusterView {
  private readonly peerCache: ParseCache<PeerRecord>;
  private readonly poolCache: ParseCache<PoolClaim & { pool: string }>;
  private readonly networkCache: ParseCache<ClusterNetwork>;

  constructor(
    private readonly m: Mirrors,
    logger: Logger,
  ) {
    this.peerCache = new ParseCache((kv) => {
      const p = parsePeer(kv.value);
      return p && keyParts(kv.key, PEERS)?.[0] === p.name ? p : undefined;
    }, logger);
    this.poolCache = new ParseCache((kv) => {
      const segment = keyParts(kv.key, POOLS)?.[0];
      const claim = parsePoolClaim(kv.value);
      return segment && claim ? { ...claim, pool: keyCidr(segment) } : undefined;
    }, logger);
    this.networkCache = new ParseCache((kv) => {
      const n = parseClusterNetwork(kv.value);
      return n && keyParts(kv.key, NETWORKS)?.[0] === n.name ? n : undefined;
    }, logger);
  }

  /** True once every mirror has listed its prefix at least once. */
  get synced(): boolean {
    const { peers, pools, networks, endpoints } = this.m;
    return [peers, pools, networks, endpoints].every((mirror) => mirror.synced);
  }

  peers(): PeerRecord[] {
    return this.peerCache.all(this.m.peers.entries());
  }

  /** The peer of one store key, if it is registered and its record parses. */
  peer(key: string): PeerRecord | undefined {
    const kv = this.m.peers.get(key);
    return kv ? this.peerCache.one(kv) : undefined;
  }

  pools(): (PoolClaim & { pool: string })[] {
    return this.poolCache.all(this.m.pools.entries());
  }

  networks(): ClusterNetwork[] {
    return this.networkCache.all(this.m.networks.entries());
  }

  networkById(clusterId: string): ClusterNetwork | undefined {
    return this.networks().find((n) => n.clusterId === clusterId);
  }

  endpoints(): RemoteEndpointView[] {
    const out: RemoteEndpointView[] = [];
    for (const ep of this.m.endpoints.entries()) if (ep) out.push(ep);
    return out;
  }

  /** The endpoint of one store key, if it is there and parses. */
  endpoint(key: string): RemoteEndpointView | undefined {
    return this.m.endpoints.get(key);
  }
}
