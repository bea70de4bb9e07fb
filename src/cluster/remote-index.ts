/**
 * The cluster's endpoints by store key, with the indexes a change-driven transport pass needs: by
 * host, by MAC and by address, and how many containers each host holds in each network.
 * TransportSync keeps one, rebuilt on whole passes and updated key by key between them, so that the
 * containers a change touches are found without walking the cluster. Pure (no I/O).
 */
import { endpointKey } from "./records.js";
import type { RemoteEndpointView } from "./view.js";

/** What setting one key changed. */
export interface IndexChange {
  before?: RemoteEndpointView;
  after?: RemoteEndpointView;
  /** True when a host's first container in a network came or its last one went. */
  hostsChanged: boolean;
}

/** An endpoint's MAC (lower case) and plain addresses: what it is found by. */
export function endpointTags(ep: RemoteEndpointView): { mac: string; ips: string[] } {
  const ips: string[] = [];
  for (const ip of [ep.ipv4, ep.ipv6]) if (ip) ips.push(ip.split("/")[0] ?? ip);
  return { mac: ep.mac.toLowerCase(), ips };
}

/** A map from a tag to the keys that carry it. */
class Tagged {
  private readonly keys = new Map<string, Set<string>>();

  add(tag: string, key: string): void {
    const set = this.keys.get(tag);
    if (set) set.add(key);
    else this.keys.set(tag, new Set([key]));
  }

  delete(tag: string, key: string): void {
    const set = this.keys.get(tag);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) this.keys.delete(tag);
  }

  get(tag: string): ReadonlySet<string> {
    return this.keys.get(tag) ?? EMPTY;
  }

  clear(): void {
    this.keys.clear();
  }
}

const EMPTY: ReadonlySet<string> = new Set();

export class RemoteIndex {
  private readonly byKey = new Map<string, RemoteEndpointView>();
  private readonly byHost = new Tagged();
  private readonly byMac = new Tagged();
  private readonly byIp = new Tagged();
  /** clusterId -> host -> how many of its containers. */
  private readonly counts = new Map<string, Map<string, number>>();

  get size(): number {
    return this.byKey.size;
  }

  /** Replaces the content with `endpoints`. */
  reset(endpoints: Iterable<RemoteEndpointView>): void {
    this.byKey.clear();
    this.byHost.clear();
    this.byMac.clear();
    this.byIp.clear();
    this.counts.clear();
    for (const ep of endpoints) this.set(endpointKey(ep.host, ep.clusterId, ep.endpointId), ep);
  }

  /** Sets the endpoint of `key`, or deletes it (undefined). */
  set(key: string, ep: RemoteEndpointView | undefined): IndexChange {
    const before = this.byKey.get(key);
    let hostsChanged = false;
    if (before) hostsChanged = this.remove(key, before);
    if (ep) hostsChanged = this.insert(key, ep) || hostsChanged;
    return { ...(before ? { before } : {}), ...(ep ? { after: ep } : {}), hostsChanged };
  }

  /** The endpoints of `host`. */
  ofHost(host: string): RemoteEndpointView[] {
    return this.endpoints(this.byHost.get(host));
  }

  /** The endpoints with one of these MACs (lower case) or addresses (plain). */
  matching(macs: Iterable<string>, ips: Iterable<string>): RemoteEndpointView[] {
    const keys = new Set<string>();
    for (const mac of macs) for (const key of this.byMac.get(mac)) keys.add(key);
    for (const ip of ips) for (const key of this.byIp.get(ip)) keys.add(key);
    return this.endpoints(keys);
  }

  /** The hosts that hold at least one container in the network `clusterId`. */
  hostsIn(clusterId: string): string[] {
    return [...(this.counts.get(clusterId)?.keys() ?? [])];
  }

  private endpoints(keys: Iterable<string>): RemoteEndpointView[] {
    const out: RemoteEndpointView[] = [];
    for (const key of keys) {
      const ep = this.byKey.get(key);
      if (ep) out.push(ep);
    }
    return out;
  }

  /** Returns true when it is the host's first container in the network. */
  private insert(key: string, ep: RemoteEndpointView): boolean {
    this.byKey.set(key, ep);
    this.byHost.add(ep.host, key);
    const { mac, ips } = endpointTags(ep);
    this.byMac.add(mac, key);
    for (const ip of ips) this.byIp.add(ip, key);
    let hosts = this.counts.get(ep.clusterId);
    if (!hosts) this.counts.set(ep.clusterId, (hosts = new Map<string, number>()));
    const n = hosts.get(ep.host) ?? 0;
    hosts.set(ep.host, n + 1);
    return n === 0;
  }

  /** Returns true when it was the host's last container in the network. */
  private remove(key: string, ep: RemoteEndpointView): boolean {
    this.byKey.delete(key);
    this.byHost.delete(ep.host, key);
    const { mac, ips } = endpointTags(ep);
    this.byMac.delete(mac, key);
    for (const ip of ips) this.byIp.delete(ip, key);
    const hosts = this.counts.get(ep.clusterId);
    const n = hosts?.get(ep.host) ?? 0;
    if (!hosts || n <= 1) {
      hosts?.delete(ep.host);
      if (hosts?.size === 0) this.counts.delete(ep.clusterId);
      return true;
    }
    hosts.set(ep.host, n - 1);
    return false;
  }
}
