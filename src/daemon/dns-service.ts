/**
 * weaveDNS in the daemon: one zone, the server listening on every weave network's gateway address
 * on this host (and on --nameserver when it is local), the registrar feeding the zone from Docker,
 * and the records added by hand (kept in the state, so they survive restarts; DnsRecords owns them).
 */
import { networkInterfaces } from "node:os";
import type { Config } from "../config/index.js";
import type { KeyedSerialQueue, Logger } from "../core/index.js";
import { errorMessage, WeaveError } from "../core/index.js";
import type { DockerApi } from "../docker/index.js";
import { canonicalIp, DnsServer, normalizeDomain, RRType, toZoneName, Zone } from "../dns/index.js";
import type { QueryHook } from "../dns/index.js";
import type { DnsRecord, DnsRecordStore, NetworkReader } from "../store/index.js";
import { containerOwner, DnsRegistrar, manualOwner, type SkippedRecord } from "./dns-registrar.js";
import { DnsRecords } from "./dns-records.js";
import { networkNames } from "./views.js";

export interface DnsEntryView {
  name: string;
  address: string;
  /** `container` (automatic), `manual` (weave dns-add). */
  origin: "container" | "manual";
  container: string;
  /** The cluster host the record comes from; "" for this host's own. */
  host: string;
  /** The network whose containers see it; "" for every network (records added by hand). */
  network: string;
}

export interface DnsChange {
  ips: string[];
  container?: string | undefined;
  fqdn?: string | undefined;
  /** `--net NAME`: only containers on that weave network see the record. */
  network?: string | undefined;
}

export class DnsService {
  readonly zone: Zone;
  private readonly server: DnsServer;
  private readonly registrar: DnsRegistrar;
  private readonly records: DnsRecords;
  private addressesError = "";

  constructor(
    private readonly o: {
      config: Config;
      /** Networks (read) and the records added by hand, handed to their owner, DnsRecords. */
      state: NetworkReader & DnsRecordStore;
      docker: DockerApi;
      queue: KeyedSerialQueue;
      logger: Logger;
      onQuery?: QueryHook;
    },
  ) {
    const { config } = o;
    this.zone = new Zone({ domain: normalizeDomain(config.dnsDomain), ttl: config.dnsTtl });
    this.server = new DnsServer({
      zone: this.zone,
      logger: o.logger,
      port: config.dnsPort,
      upstream: {
        servers: config.dnsUpstream.length > 0 ? config.dnsUpstream : undefined,
        resolvConf: config.dnsResolvConf,
      },
      udpWorkers: config.dnsWorkers,
      // Started when the UDP query rate is high (2,000 q/s for 2 s), stopped after 5 quiet minutes.
      workersOnDemand: {},
      workerLogLevel: config.logLevel,
      onQuery: o.onQuery,
    });
    this.records = new DnsRecords(o.state);
    this.registrar = new DnsRegistrar({
      docker: o.docker,
      dockerSocket: config.dockerSocket,
      zone: this.zone,
      state: o.state,
      records: this.records,
      queue: o.queue,
      logger: o.logger,
      isWeaveNetwork: (id) => o.state.getNetwork(id) !== undefined,
      onNetworksChanged: () => this.updateGateways(),
    });
  }

  async start(): Promise<void> {
    await this.server.start();
    await this.updateAddresses();
    this.registrar.start();
  }

  async close(): Promise<void> {
    this.registrar.close();
    await this.server.close();
  }

  /** Listens on the current gateways (call after networks change); failures are logged, kept. */
  async updateAddresses(): Promise<void> {
    const ips = new Set<string>();
    for (const n of this.o.state.listNetworks()) {
      for (const d of [...n.ipv4, ...n.ipv6]) {
        const gw = d.Gateway?.split("/")[0];
        if (gw) ips.add(gw);
      }
    }
    const ns = this.o.config.nameserver;
    if (ns && isLocalAddress(ns)) ips.add(ns);
    try {
      await this.server.setAddresses([...ips]);
      this.addressesError = "";
    } catch (err) {
      this.addressesError = errorMessage(err);
      this.o.logger.warning("weaveDNS cannot listen on every address", { error: this.addressesError });
    }
  }

  /**
   * Tells the zone which network each gateway serves (by Docker's network name), so a question
   * from no container's address sees that network's names. Asks Docker, so never call it from
   * inside a plugin call: the registrar calls it on Docker's network events and reconnects.
   */
  async updateGateways(): Promise<void> {
    const names = await networkNames(this.o.docker, this.o.config.driverName);
    const gateways: [string, string][] = [];
    for (const n of this.o.state.listNetworks()) {
      const name = names.get(n.id);
      if (name === undefined) continue;
      for (const d of [...n.ipv4, ...n.ipv6]) {
        const gw = d.Gateway?.split("/")[0];
        if (gw) gateways.push([gw, name]);
      }
    }
    if (names.size > 0 || this.o.state.listNetworks().length === 0) this.zone.setGateways(gateways);
  }

  /** Re-reads Docker: every running container's names (after networks were adopted, say). */
  reconcile(): Promise<void> {
    return this.registrar.reconcileAll();
  }

  status(): {
    domain: string;
    addresses: string[];
    port: number;
    error: string;
    entries: number;
    eventsConnected: boolean;
    skipped: SkippedRecord[];
  } {
    return {
      domain: this.zone.domain,
      addresses: this.server.addresses(),
      port: this.o.config.dnsPort,
      error: this.addressesError,
      entries: this.entries().length,
      eventsConnected: this.registrar.connected,
      skipped: this.registrar.skippedRecords(),
    };
  }

  /** Every name and address weaveDNS answers with. */
  entries(): DnsEntryView[] {
    const out: DnsEntryView[] = [];
    for (const owner of this.zone.ownerKeys()) {
      // Another host's records (multi-host) are `r:<host>:<its owner>`.
      const remote = /^r:([^:]+):(.*)$/.exec(owner);
      const local = remote?.[2] ?? owner;
      const isContainer = local.startsWith("c:");
      for (const e of this.zone.get(owner) ?? []) {
        for (const address of [...e.ipv4, ...e.ipv6]) {
          out.push({
            name: e.name,
            address,
            origin: isContainer ? "container" : "manual",
            container: isContainer ? local.slice(2, 14) : "",
            host: remote?.[1] ?? "",
            network: e.scope ?? "",
          });
        }
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.address.localeCompare(b.address));
  }

  /** The addresses a name resolves to (A and AAAA), as weaveDNS would answer. */
  lookup(name: string): string[] {
    const qname = name.endsWith(".") ? name : `${name}.`;
    const out: string[] = [];
    for (const type of [RRType.A, RRType.AAAA]) {
      const r = this.zone.lookup(qname, type);
      if (r.kind !== "answer") continue;
      for (const rr of r.answers) if (rr.type === "A" || rr.type === "AAAA") out.push(rr.address);
    }
    return out;
  }

  /** `weave dns-add`: records for a name (or a container's name), tied to the container if given. */
  async add(change: DnsChange): Promise<DnsRecord[]> {
    const { fqdn, containerId, ips } = await this.resolveChange(change, true);
    const network = await this.networkOf(change);
    const now = Date.now();
    const records = ips.map((address) => ({ fqdn, address, containerId, network, createdAt: now }));
    this.records.add(records);
    await this.publish(containerId);
    return records;
  }

  /** `weave dns-remove`: removes the given addresses (or all) of a name; returns how many. */
  async remove(change: DnsChange): Promise<number> {
    const { fqdn, containerId, ips } = await this.resolveChange(change, false);
    const network = change.network === undefined ? undefined : await this.networkOf(change);
    const removed = this.records.remove({ fqdn, containerId, network, ips });
    await this.publish(containerId);
    return removed.length;
  }

  /** The weave network `--net` names ("" without --net); WEAVE_NOT_FOUND for any other name. */
  private async networkOf(change: DnsChange): Promise<string> {
    if (change.network === undefined) return "";
    const names = await networkNames(this.o.docker, this.o.config.driverName);
    for (const [id, name] of names) {
      if ((name === change.network || id === change.network) && this.o.state.getNetwork(id)) return name;
    }
    throw new WeaveError("WEAVE_NOT_FOUND", `No weave network "${change.network}" on this host (--net)`);
  }

  private async publish(containerId: string): Promise<void> {
    if (containerId === "") this.registrar.publishManual();
    else await this.registrar.refresh(containerId);
  }

  private async resolveChange(
    change: DnsChange,
    adding: boolean,
  ): Promise<{ fqdn: string; containerId: string; ips: string[] }> {
    const ips: string[] = [];
    for (const ip of change.ips) {
      const c = canonicalIp(ip);
      if (!c) throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid IP address "${ip}"`);
      ips.push(c);
    }
    let containerId = "";
    let name = change.fqdn;
    if (change.container) {
      const c = await this.o.docker.inspectContainer(change.container).catch((err: unknown) => {
        throw new WeaveError(
          "WEAVE_NOT_FOUND",
          `No such container "${change.container}": ${errorMessage(err)}`,
        );
      });
      containerId = c.Id;
      name ??= c.Name.replace(/^\//, "");
      if (ips.length === 0 && adding) {
        for (const net of Object.values(c.NetworkSettings.Networks ?? {})) {
          if (!this.o.state.getNetwork(net.NetworkID)) continue;
          if (net.IPAddress) ips.push(net.IPAddress);
          if (net.GlobalIPv6Address) ips.push(net.GlobalIPv6Address);
        }
      }
    }
    if (!name) throw new WeaveError("WEAVE_BAD_REQUEST", "Give a container or a name with -h FQDN");
    // A -h name with dots is a fully qualified name: it must lie in the domain. A single label, or
    // a container's name, is relative to the domain.
    const absolute = change.fqdn !== undefined && change.fqdn.replace(/\.$/, "").includes(".");
    const fqdn = toZoneName(absolute && !name.endsWith(".") ? `${name}.` : name, this.zone.domain);
    if (!fqdn) {
      throw new WeaveError(
        "WEAVE_BAD_REQUEST",
        `"${name}" is not a valid name in the domain ${this.zone.domain}`,
      );
    }
    if (adding && ips.length === 0) {
      throw new WeaveError("WEAVE_BAD_REQUEST", `No address to add for ${fqdn}: give IP addresses`);
    }
    return { fqdn, containerId, ips };
  }
}

/** True when `ip` is assigned to an interface of this network namespace. */
export function isLocalAddress(ip: string): boolean {
  const want = canonicalIp(ip);
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (canonicalIp(a.address) === want) return true;
  }
  return false;
}

export { containerOwner, manualOwner };
