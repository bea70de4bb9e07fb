export { runDaemon } from "./daemon.js";
export type { StatusView, PsRow, NetworkView } from "./views.js";
export { resolveGroup } from "./host.js";
export type { DnsEntryView, DnsChange } from "./dns-service.js";
