export { runDaemon } from "./daemon.js";
export type { StatusView, PsRow, NetworkView } from "./views.js";
export { resolveGroup } from "./host.js";
export type { DnsEntryView, DnsChange } from "./dns-service.js";
import type { DnsService } from "./dns-service.js";
/** What weaveDNS reports about itself (control API: `/dns`, and `dns` of `/status`). */
export type DnsStatusView = ReturnType<DnsService["status"]>;
