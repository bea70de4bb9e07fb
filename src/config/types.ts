/** The daemon's settings, as parseConfig (config.ts) returns them from flags, WEAVE_* variables and defaults. */
import type { LogLevel } from "../core/index.js";

export interface Config {
  socket: string;
  /** The name Docker knows the driver by (`-d NAME`): --driver-name, else derived from the socket. */
  driverName: string;
  socketGroup: string;
  logLevel: LogLevel;
  nameserver: string | undefined;
  ipallocRange: string;
  stateDir: string;
  runDir: string;
  dockerSocket: string;
  mtu: number | undefined;
  defaultNetwork: string;
  logFile: string;
  foreground: boolean;
  noDns: boolean;
  dnsDomain: string;
  dnsTtl: number;
  dnsUpstream: string[];
  dnsPort: number;
  dnsWorkers: number;
  dnsResolvConf: string;
  /** `IP:PORT` of the status server (metrics, status page); "" for none. */
  statusAddr: string;
  /** Cluster store URL (`etcd://h1:2379,h2:2379`); "" for single-host mode. */
  store: string;
  /** PEM files for TLS to the store ("" when not given). */
  storeCa: string;
  storeCert: string;
  storeKey: string;
  /** This host's underlay address other hosts send VXLAN traffic to ("" to detect). */
  advertiseAddr: string;
  /** This host's name in the cluster. */
  name: string;
  /** UDP port of the VXLAN overlay. */
  vxlanPort: number;
  /** How traffic goes to each peer: auto (routed on a shared subnet, else VXLAN), vxlan or routed. */
  transport: "auto" | "vxlan" | "routed";
  /** File holding the cluster password ("" for none): turns WireGuard encryption on. */
  passwordFile: string;
  /** The password itself, from WEAVE_PASSWORD (never a flag: command lines are visible to every user). */
  password: string | undefined;
  /** UDP port of the WireGuard device. */
  wireguardPort: number;
}
