export { runDaemon } from "./daemon.js";
export type { StatusView, PsRow, NetworkView } from "./views.js";
export { resolveGroup } from "./host.js";
export type { DnsEntryView, DnsChange } from "./dns-service.js";
export { composeDaemon } from "./compose.js";
export type { Adapters, ComposeOptions, Daemon, HostFacts } from "./compose.js";
export { daemonSteps } from "./daemon-steps.js";
export { startSteps } from "./lifecycle.js";
export type { Step } from "./lifecycle.js";
import type { DnsService } from "./dns-service.js";
/** What weaveDNS reports about itself (control API: `/dns`, and `dns` of `/status`). */
export type DnsStatusView = ReturnType<DnsService["status"]>;
