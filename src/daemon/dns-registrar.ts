/**
 * Registers containers in weaveDNS from Docker, outside plugin calls. Docker's events say which
 * container changed; what it is now comes from inspecting it, so events out of order, replayed or
 * lost do no harm: every refresh of a container recomputes all its names (see containerEntries),
 * or removes them when it is not running or gone. On every (re)connect of the event stream all
 * running containers are refreshed and names of containers no longer running are removed.
 *
 * Zone owners: `c:<container ID>` for a container (its automatic names plus records added by hand
 * and tied to it), `m:<fqdn>` for records added by hand and tied to no container.
 */
import type { KeyedSerialQueue, Logger } from "../core/index.js";
import { errorMessage, isWeaveError } from "../core/index.js";
import type { DockerApi, DockerEvent } from "../docker/index.js";
import { DockerEventStream } from "../docker/index.js";
import type { ZoneEntry } from "../dns/index.js";
import { containerEntries } from "../dns/container-names.js";
import { toZoneName } from "../dns/index.js";
import type { DnsRecord, DnsRecordReader } from "../store/index.js";
import type { DnsRecords } from "./dns-records.js";

/** The part of the zone the registrar writes. */
export interface ZoneWriter {
  readonly domain: string;
  set(owner: string, entries: readonly ZoneEntry[]): boolean;
  remove(owner: string): boolean;
  ownerKeys(): string[];
}

export interface DnsRegistrarOptions {
  docker: DockerApi;
  dockerSocket: string;
  zone: ZoneWriter;
  /** The records added by hand, read-only. */
  state: DnsRecordReader;
  /** Their owner: a container gone takes its records with it. */
  records: Pick<DnsRecords, "forgetContainer">;
  queue: KeyedSerialQueue;
  logger: Logger;
  /** True for networks of weave (the state's networks). */
  isWeaveNetwork: (networkId: string) => boolean;
  /** Called on Docker's network create/destroy events and on every (re)connect. */
  onNetworksChanged?: () => Promise<void>;
}

const CONTAINER_ACTIONS = new Set([
  "start",
  "restart",
  "die",
  "stop",
  "kill",
  "destroy",
  "rename",
  "pause",
  "unpause",
]);

export const containerOwner = (id: string): string => `c:${id}`;
export const manualOwner = (fqdn: string): string => `m:${fqdn}`;

/** A record added by hand that the zone cannot hold (its name is outside today's domain). */
export interface SkippedRecord {
  fqdn: string;
  address: string;
  /** Full container ID, "" for a record tied to no container. */
  container: string;
  reason: string;
}

export class DnsRegistrar {
  private stream: DockerEventStream | undefined;
  /** Records added by hand that do not fit the zone, by `fqdn address container`: said once. */
  private readonly skipped = new Map<string, SkippedRecord>();

  constructor(private readonly o: DnsRegistrarOptions) {}

  start(): void {
    this.publishManual();
    this.stream = new DockerEventStream({
      socketPath: this.o.dockerSocket,
      filters: { type: ["container", "network"] },
      logger: this.o.logger,
      onEvent: (e) => this.onEvent(e),
      onConnect: () => {
        this.networksChanged();
        this.reconcileAll().catch((err: unknown) =>
          this.o.logger.warning("DNS reconciliation with Docker failed", { error: errorMessage(err) }),
        );
      },
    });
    this.stream.start();
  }

  close(): void {
    this.stream?.close();
  }

  get connected(): boolean {
    return this.stream?.connected ?? false;
  }

  private networksChanged(): void {
    this.o
      .onNetworksChanged?.()
      .catch((err: unknown) =>
        this.o.logger.warning("DNS gateways not updated", { error: errorMessage(err) }),
      );
  }

  private onEvent(e: DockerEvent): void {
    if (e.Type === "network" && (e.Action === "create" || e.Action === "destroy")) this.networksChanged();
    let id: string | undefined;
    if (e.Type === "container" && CONTAINER_ACTIONS.has(e.Action)) id = e.Actor.ID;
    else if (e.Type === "network" && (e.Action === "connect" || e.Action === "disconnect")) {
      id = e.Actor.Attributes?.["container"];
    }
    if (!id) return;
    const destroyed = e.Type === "container" && e.Action === "destroy";
    this.refresh(id, destroyed).catch((err: unknown) =>
      this.o.logger.warning("DNS refresh failed", { container: id, error: errorMessage(err) }),
    );
  }

  /**
   * Recomputes the names of one container from Docker (serialised per container). `destroyed`
   * also forgets the records added by hand for it.
   */
  refresh(id: string, destroyed = false): Promise<void> {
    return this.o.queue.run(`dns:${id}`, async () => {
      if (destroyed) this.o.records.forgetContainer(id);
      let entries: ZoneEntry[] = [];
      let fullId = id;
      try {
        const c = await this.o.docker.inspectContainer(id);
        fullId = c.Id;
        entries = containerEntries(c, this.o.isWeaveNetwork, this.o.zone.domain);
        if (c.State.Running) entries.push(...this.fitting(this.o.state.listDnsRecords(), fullId));
      } catch (err) {
        if (!isWeaveError(err, "WEAVE_NOT_FOUND")) throw err;
        this.o.records.forgetContainer(id);
      }
      const owner = containerOwner(fullId);
      if (entries.length > 0) {
        if (this.o.zone.set(owner, entries))
          this.o.logger.debug("DNS names set", { container: fullId, entries });
      } else if (this.o.zone.remove(owner)) {
        this.o.logger.debug("DNS names removed", { container: fullId });
      }
    });
  }

  /** Refreshes every running container and drops names of containers that no longer run. */
  async reconcileAll(): Promise<void> {
    const running = await this.o.docker.listContainers();
    const ids = new Set(running.map((c) => c.Id));
    for (const owner of this.o.zone.ownerKeys()) {
      if (owner.startsWith("c:") && !ids.has(owner.slice(2))) this.o.zone.remove(owner);
    }
    // One container that cannot be registered must not cost the others their names.
    for (const id of ids) {
      await this.refresh(id).catch((err: unknown) =>
        this.o.logger.warning("DNS refresh failed", { container: id, error: errorMessage(err) }),
      );
    }
    // Records added by hand for containers that no longer exist at all go too.
    for (const r of this.o.state.listDnsRecords()) {
      if (r.containerId === "" || ids.has(r.containerId)) continue;
      try {
        await this.o.docker.inspectContainer(r.containerId);
      } catch (err) {
        if (isWeaveError(err, "WEAVE_NOT_FOUND")) this.o.records.forgetContainer(r.containerId);
      }
    }
    this.o.logger.debug("DNS reconciled with Docker", { containers: ids.size });
  }

  /** Publishes the records added by hand that are tied to no container. */
  publishManual(): void {
    const records = this.o.state.listDnsRecords().filter((r) => r.containerId === "");
    const byName = new Map<string, DnsRecord[]>();
    for (const r of records) byName.set(r.fqdn, [...(byName.get(r.fqdn) ?? []), r]);
    for (const owner of this.o.zone.ownerKeys()) {
      if (owner.startsWith("m:") && !byName.has(owner.slice(2))) this.o.zone.remove(owner);
    }
    for (const [fqdn, rs] of byName) {
      const entries = this.fitting(rs, "");
      if (entries.length > 0) this.o.zone.set(manualOwner(fqdn), entries);
      else this.o.zone.remove(manualOwner(fqdn));
    }
  }

  /** Records added by hand that weaveDNS does not answer with, and why. */
  skippedRecords(): SkippedRecord[] {
    const live = new Set(
      this.o.state.listDnsRecords().map((r) => recordKey(r.fqdn, r.address, r.containerId)),
    );
    for (const key of [...this.skipped.keys()]) if (!live.has(key)) this.skipped.delete(key);
    return [...this.skipped.values()];
  }

  /**
   * manualEntries of the records that fit the zone's domain; each one that does not (added under
   * another --dns-domain) is skipped, said once in the log and listed by skippedRecords.
   */
  private fitting(records: readonly DnsRecord[], containerId: string): ZoneEntry[] {
    const domain = this.o.zone.domain;
    const fit: DnsRecord[] = [];
    for (const r of records) {
      if (r.containerId !== containerId) continue;
      if (toZoneName(r.fqdn, domain) !== undefined) {
        fit.push(r);
        continue;
      }
      const key = recordKey(r.fqdn, r.address, r.containerId);
      if (this.skipped.has(key)) continue;
      const reason = `"${r.fqdn}" is outside the domain ${domain}`;
      this.skipped.set(key, { fqdn: r.fqdn, address: r.address, container: r.containerId, reason });
      this.o.logger.warning("DNS record added by hand skipped: its name is not in the domain", {
        name: r.fqdn,
        address: r.address,
        container: r.containerId,
        domain,
        hint: "weave dns-remove it, or relaunch with the --dns-domain it was added under",
      });
    }
    return manualEntries(fit, containerId);
  }
}

const recordKey = (fqdn: string, address: string, container: string): string =>
  `${fqdn} ${address} ${container}`;

/**
 * Zone entries of the records added by hand for `containerId` ("" for untied ones), each scoped to
 * its `--net` network ("" for every network).
 */
export function manualEntries(records: readonly DnsRecord[], containerId: string): ZoneEntry[] {
  const byName = new Map<string, { name: string; scope: string; ipv4: string[]; ipv6: string[] }>();
  for (const r of records) {
    if (r.containerId !== containerId) continue;
    const key = `${r.fqdn} ${r.network}`;
    const slot = byName.get(key) ?? { name: r.fqdn, scope: r.network, ipv4: [], ipv6: [] };
    (r.address.includes(":") ? slot.ipv6 : slot.ipv4).push(r.address);
    byName.set(key, slot);
  }
  return [...byName.values()];
}
