/**
 * The DNS records added by hand (`weave dns-add`), kept in the state so they survive restarts:
 * their one writer. `weave dns-add`/`dns-remove` (DnsService) and the registrar (a container gone
 * takes its records with it) both change them here. Each change is one synchronous pass over
 * SQLite, atomic for the event loop, so changes never interleave; what weaveDNS answers is derived
 * from the records by the registrar, per container and in turn, after every change.
 */
import type { DnsRecord, DnsRecordStore } from "../store/index.js";

/** Which records `weave dns-remove` takes: a name's, for a container or none, on a network or any. */
export interface DnsRecordMatch {
  fqdn: string;
  /** Full container ID, "" for records tied to no container. */
  containerId: string;
  /** The `--net` network's name ("" for every network); undefined matches any. */
  network: string | undefined;
  /** The addresses to take; empty for all of them. */
  ips: readonly string[];
}

export class DnsRecords {
  constructor(private readonly state: DnsRecordStore) {}

  list(): DnsRecord[] {
    return this.state.listDnsRecords();
  }

  add(records: readonly DnsRecord[]): void {
    for (const r of records) this.state.putDnsRecord(r);
  }

  /** Removes the records `match` selects; returns them. */
  remove(match: DnsRecordMatch): DnsRecord[] {
    const { fqdn, containerId, network, ips } = match;
    const targets = this.state
      .listDnsRecords()
      .filter(
        (r) =>
          r.fqdn === fqdn &&
          r.containerId === containerId &&
          (network === undefined || r.network === network) &&
          (ips.length === 0 || ips.includes(r.address)),
      );
    for (const r of targets) this.state.deleteDnsRecord(r);
    return targets;
  }

  /** Forgets every record tied to a container (it is gone); returns how many there were. */
  forgetContainer(containerId: string): number {
    return this.state.deleteDnsRecordsOf(containerId);
  }
}
