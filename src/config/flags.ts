/**
 * Every daemon flag: its WEAVE_* twin, default, help text and validation. docs/usage.md has the same
 * table for users (test/unit/docs.test.ts keeps them in step).
 */
import { isIP } from "node:net";
import type { LogLevel } from "../core/index.js";
import {
  errorMessage,
  LOG_LEVELS,
  MAX_MTU,
  MIN_MTU,
  parseListenAddress,
  parsePrefix,
} from "../core/index.js";
import { parseStoreUrl } from "./store-url.js";
import type { Config } from "./types.js";

export interface FlagSpec {
  key: keyof Config;
  flag: string;
  env: string;
  help: string;
  default: string;
  boolean?: boolean;
  validate?: (value: string) => string | undefined;
}

const mtuCheck = (v: string) =>
  /^\d+$/.test(v) && Number(v) >= MIN_MTU && Number(v) <= MAX_MTU
    ? undefined
    : `expected an MTU from ${MIN_MTU} to ${MAX_MTU}`;

const portCheck = (v: string) =>
  /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : "expected a port";

/** What `check` returns, or the message of what it throws (a parser's error is the value's problem). */
function problem(check: () => string | undefined): string | undefined {
  try {
    return check();
  } catch (err) {
    return errorMessage(err);
  }
}

export const FLAGS: readonly FlagSpec[] = [
  {
    key: "socket",
    flag: "--socket",
    env: "WEAVE_SOCKET",
    default: "/run/docker/plugins/weave.sock",
    help: "Unix socket of the Docker network and IPAM plugin",
  },
  {
    key: "driverName",
    flag: "--driver-name",
    env: "WEAVE_DRIVER_NAME",
    default: "",
    help: 'Name Docker knows weave by, e.g. "weave:latest" for a managed plugin (default: the socket file\'s name without .sock)',
    validate: (v) =>
      v === "" || /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(v)
        ? undefined
        : "expected a plugin name such as weave or weave:latest",
  },
  {
    key: "socketGroup",
    flag: "--socket-group",
    env: "WEAVE_SOCKET_GROUP",
    default: "root",
    help: "Group (name or gid) owning the plugin socket; mode is 0660",
  },
  {
    key: "logLevel",
    flag: "--log-level",
    env: "WEAVE_LOG_LEVEL",
    default: "info",
    help: "Log level: debug, info, warning or error",
    validate: (v) =>
      LOG_LEVELS.includes(v as LogLevel) ? undefined : "expected debug, info, warning or error",
  },
  {
    key: "nameserver",
    flag: "--nameserver",
    env: "WEAVE_NAMESERVER",
    default: "",
    help: "Give every endpoint a connected /32 route to this IP (e.g. a DNS server)",
    validate: (v) => (v === "" || (isIP(v) !== 0 && !v.includes("%")) ? undefined : "expected an IP address"),
  },
  {
    key: "ipallocRange",
    flag: "--ipalloc-range",
    env: "WEAVE_IPALLOC_RANGE",
    default: "10.32.0.0/12",
    help: "IPv4 range from which subnets of networks created without --subnet are carved",
    validate: (v) =>
      problem(() => {
        const p = parsePrefix(v, { strict: true });
        return p.family === 4 && p.bits <= 24 ? undefined : "expected an IPv4 CIDR of /24 or larger";
      }),
  },
  {
    key: "stateDir",
    flag: "--state-dir",
    env: "WEAVE_STATE_DIR",
    default: "/var/lib/weave",
    help: "Directory of weave's persistent state (SQLite database)",
  },
  {
    key: "runDir",
    flag: "--run-dir",
    env: "WEAVE_RUN_DIR",
    default: "/run/weave",
    help: "Directory of the control socket and pid file",
  },
  {
    key: "dockerSocket",
    flag: "--docker-socket",
    env: "WEAVE_DOCKER_SOCKET",
    default: "/var/run/docker.sock",
    help: "Docker Engine API socket",
  },
  {
    key: "mtu",
    flag: "--mtu",
    env: "WEAVE_MTU",
    default: "",
    help: "MTU of bridges and container interfaces (default: the default route's MTU minus 50)",
    validate: (v) => (v === "" ? undefined : mtuCheck(v)),
  },
  {
    key: "defaultNetwork",
    flag: "--default-network",
    env: "WEAVE_DEFAULT_NETWORK",
    default: "weave",
    help: 'Docker network weave makes sure exists (driver and IPAM: --driver-name); "" for none',
  },
  {
    key: "logFile",
    flag: "--log-file",
    env: "WEAVE_LOG_FILE",
    default: "/var/log/weave.log",
    help: "Where `weave launch` sends the background daemon's logs",
  },
  {
    key: "foreground",
    flag: "--foreground",
    env: "WEAVE_FOREGROUND",
    default: "false",
    boolean: true,
    help: "Run the daemon in the foreground (for systemd and containers)",
  },
  {
    key: "noDns",
    flag: "--no-dns",
    env: "WEAVE_NO_DNS",
    default: "false",
    boolean: true,
    help: "Do not run weaveDNS",
  },
  {
    key: "dnsDomain",
    flag: "--dns-domain",
    env: "WEAVE_DNS_DOMAIN",
    default: "weave.local",
    help: "Domain weaveDNS is authoritative for",
    validate: (v) =>
      /^([a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}\.?$/i.test(v) ? undefined : "expected a DNS domain",
  },
  {
    key: "dnsTtl",
    flag: "--dns-ttl",
    env: "WEAVE_DNS_TTL",
    default: "1",
    help: "TTL in seconds of weaveDNS answers",
    validate: (v) => (/^\d{1,7}$/.test(v) ? undefined : "expected a number of seconds"),
  },
  {
    key: "dnsUpstream",
    flag: "--dns-upstream",
    env: "WEAVE_DNS_UPSTREAM",
    default: "",
    help: "Comma-separated upstream servers (IP, IP:PORT or [IPv6]:PORT) instead of those of --dns-resolv-conf",
    validate: (v) =>
      v === "" ||
      v
        .split(",")
        .every((x) =>
          /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-f:.]+\](:\d{1,5})?|[0-9a-f:]+)$/i.test(x.trim()),
        )
        ? undefined
        : "expected IP, IP:PORT or [IPv6]:PORT entries separated by commas",
  },
  {
    key: "dnsPort",
    flag: "--dns-port",
    env: "WEAVE_DNS_PORT",
    default: "53",
    help: "UDP and TCP port of weaveDNS on each weave network's gateway address",
    validate: portCheck,
  },
  {
    key: "dnsWorkers",
    flag: "--dns-workers",
    env: "WEAVE_DNS_WORKERS",
    default: "1",
    help:
      "Extra processes answering weaveDNS queries over UDP (0: the daemon alone), started on demand: " +
      "above 2,000 UDP queries/s for 2 s; stopped after 5 min under 200 queries/s",
    validate: (v) => (/^\d{1,2}$/.test(v) ? undefined : "expected a number from 0 to 99"),
  },
  {
    key: "dnsResolvConf",
    flag: "--dns-resolv-conf",
    env: "WEAVE_DNS_RESOLV_CONF",
    default: "/etc/resolv.conf",
    help: "resolv.conf whose nameservers get queries for other names (followed when it changes)",
  },
  {
    key: "statusAddr",
    flag: "--status-addr",
    env: "WEAVE_STATUS_ADDR",
    default: "127.0.0.1:6782",
    help: 'Address (IP:PORT) of the status page and Prometheus metrics; "" for none',
    validate: (v) =>
      v === "" || parseListenAddress(v) ? undefined : 'expected IP:PORT or [IPv6]:PORT, or "" for none',
  },
  {
    key: "store",
    flag: "--store",
    env: "WEAVE_STORE",
    default: "",
    help: 'Cluster store shared by every host of a multi-host cluster: etcd://HOST[:PORT][,HOST[:PORT]...] (etcds:// for TLS); "" for one host alone',
    validate: (v) => (v === "" ? undefined : problem(() => void parseStoreUrl(v))),
  },
  {
    key: "storeCa",
    flag: "--store-ca",
    env: "WEAVE_STORE_CA",
    default: "",
    help: "PEM file of the CA that signed the etcd servers' certificates (turns TLS on)",
  },
  {
    key: "storeCert",
    flag: "--store-cert",
    env: "WEAVE_STORE_CERT",
    default: "",
    help: "PEM client certificate for etcd (with --store-key)",
  },
  {
    key: "storeKey",
    flag: "--store-key",
    env: "WEAVE_STORE_KEY",
    default: "",
    help: "PEM private key of --store-cert",
  },
  {
    key: "advertiseAddr",
    flag: "--advertise-addr",
    env: "WEAVE_ADVERTISE_ADDR",
    default: "",
    help: "This host's IPv4 address other hosts send overlay (VXLAN) traffic to (default: the source address of the route to the store)",
    validate: (v) => (v === "" || isIP(v) === 4 ? undefined : "expected an IPv4 address"),
  },
  {
    key: "name",
    flag: "--name",
    env: "WEAVE_NAME",
    default: "",
    help: "This host's name in the cluster (default: the hostname)",
    validate: (v) =>
      v === "" || /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v)
        ? undefined
        : "expected 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
  },
  {
    key: "vxlanPort",
    flag: "--vxlan-port",
    env: "WEAVE_VXLAN_PORT",
    default: "4789",
    help: "UDP port of the VXLAN overlay between hosts (the same on every host)",
    validate: portCheck,
  },
  {
    key: "transport",
    flag: "--transport",
    env: "WEAVE_TRANSPORT",
    default: "auto",
    help: "How traffic reaches other hosts: auto (routed to peers on a subnet this host is attached to, VXLAN to the others), vxlan or routed",
    validate: (v) => (["auto", "vxlan", "routed"].includes(v) ? undefined : "expected auto, vxlan or routed"),
  },
  {
    key: "passwordFile",
    flag: "--password-file",
    env: "WEAVE_PASSWORD_FILE",
    default: "",
    help: "File holding the cluster password: encrypts all traffic between hosts with WireGuard (or set WEAVE_PASSWORD)",
  },
  {
    key: "wireguardPort",
    flag: "--wireguard-port",
    env: "WEAVE_WIREGUARD_PORT",
    default: "51820",
    help: "UDP port of WireGuard between encrypted hosts (the same on every host is simplest; each host publishes its own)",
    validate: portCheck,
  },
];
