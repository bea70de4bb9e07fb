/**
 * The cluster's endpoints by store key, with the indexes a change-driven transport pass needs: by
 * host, by MAC and by address, and how many containers each host holds in each network.
 * TransportSync keeps one, rebuilt on whole passes and updated key by key between them, so that the
 * containers a change touches are found without walking the cluster. Pure (no I/O).
 *
 * Memory (100,000 endpoints at 1,000 hosts): the indexes hold the endpoints themselves, not their
 * keys, and a MAC or an address that one endpoint carries (almost all of them) maps to that
 * endpoint alone, not to a one-element Set. The keys are the endpoints' own (the mirror's strings).
 */
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

/**
 * A map from a tag to the endpoints that carry it: the endpoint itself when it is the only one
 * (found again by identity), a Set when several share the tag (a MAC or address moved between
 * hosts, a host's containers).
 */
export class Tagged {
  private readonly items = new Map<string, RemoteEndpointView | Set<RemoteEndpointView>>();

  add(tag: string, ep: RemoteEndpointView): void {
    const had = this.items.get(tag);
    if (had === undefined) this.items.set(tag, ep);
    else if (had instanceof Set) had.add(ep);
    else if (had !== ep) this.items.set(tag, new Set([had, ep]));
  }

  delete(tag: string, ep: RemoteEndpointView): void {
    const had = this.items.get(tag);
    if (had === ep) this.items.delete(tag);
    else if (had instanceof Set && had.delete(ep)) {
      if (had.size === 1) this.items.set(tag, had.values().next().value as RemoteEndpointView);
    }
  }

  /** The endpoints with `tag`. */
  get(tag: string): Iterable<RemoteEndpointView> {
    const had = this.items.get(tag);
    return had === undefined ? [] : had instanceof Set ? had : [had];
  }

  /** How many tags it holds. */
  get size(): number {
    return this.items.size;
  }

  clear(): void {
    this.items.clear();
  }
}

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
    for (const ep of endpoints) this.set(ep.key, ep);
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
    return [...this.byHost.get(host)];
  }

  /** The endpoints with one of these MACs (lower case) or addresses (plain), each once. */
  matching(macs: Iterable<string>, ips: Iterable<string>): RemoteEndpointView[] {
    const found = new Set<RemoteEndpointView>();
    for (const mac of macs) for (const ep of this.byMac.get(mac)) found.add(ep);
    for (const ip of ips) for (const ep of this.byIp.get(ip)) found.add(ep);
    return [...found];
  }

  /** The hosts that hold at least one container in the network `clusterId`. */
  hostsIn(clusterId: string): string[] {
    return [...(this.counts.get(clusterId)?.keys() ?? [])];
  }

  /** Returns true when it is the host's first container in the network. */
  private insert(key: string, ep: RemoteEndpointView): boolean {
    this.byKey.set(key, ep);
    this.byHost.add(ep.host, ep);
    const { mac, ips } = endpointTags(ep);
    this.byMac.add(mac, ep);
    for (const ip of ips) this.byIp.add(ip, ep);
    let hosts = this.counts.get(ep.clusterId);
    if (!hosts) this.counts.set(ep.clusterId, (hosts = new Map<string, number>()));
    const n = hosts.get(ep.host) ?? 0;
    hosts.set(ep.host, n + 1);
    return n === 0;
  }

  /** Returns true when it was the host's last container in the network. */
  private remove(key: string, ep: RemoteEndpointView): boolean {
    this.byKey.delete(key);
    this.byHost.delete(ep.host, ep);
    const { mac, ips } = endpointTags(ep);
    this.byMac.delete(mac, ep);
    for (const ip of ips) this.byIp.delete(ip, ep);
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
