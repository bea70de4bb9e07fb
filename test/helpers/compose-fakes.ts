/**
 * The daemon's real component graph (composeDaemon) over fakes: SQLite ":memory:", the fake data
 * plane, Docker, port data plane and reserver, and optionally a MemoryClusterStore with the fake
 * overlay. Nothing listens until a test starts a server.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/index.js";
import { realClock, silentLogger } from "../../src/core/index.js";
import type { Clock, Logger } from "../../src/core/index.js";
import type { Adapters, Daemon } from "../../src/daemon/index.js";
import { composeDaemon } from "../../src/daemon/index.js";
import {
  FakeDataplane,
  FakeOverlay,
  FakeRouted,
  FakeSysctl,
  FakeWireguard,
} from "../../src/dataplane/index.js";
import { MemoryKeyStore } from "./transport-fakes.js";
import { FakeDocker } from "../../src/docker/index.js";
import { DEFAULT_EPHEMERAL_RANGE, FakePortDataplane, FakePortReserver } from "../../src/ports/index.js";
import type { ClusterStore } from "../../src/store/index.js";
import { openSqliteState } from "../../src/store/index.js";

export interface FakeAdapters extends Adapters {
  dataplane: FakeDataplane;
  docker: FakeDocker;
  ports: { dataplane: FakePortDataplane; reserver: FakePortReserver };
}

export interface ComposedWithFakes {
  daemon: Daemon;
  adapters: FakeAdapters;
  /** How many times the control API asked the daemon to stop. */
  stops: () => number;
}

/** The cluster store and the transports' fake data planes. */
export function clusterFakes(store: ClusterStore) {
  return {
    store,
    overlay: new FakeOverlay(),
    routed: new FakeRouted(),
    wireguard: new FakeWireguard(),
    sysctl: new FakeSysctl(),
    keys: new MemoryKeyStore(),
  };
}

export function composeWithFakes(
  o: {
    /** Extra daemon flags (e.g. ["--dns-port", "0"]); weaveDNS is off unless `dns` is set. */
    args?: readonly string[];
    dns?: boolean;
    /** Multi-host over this store (with --store set to a placeholder URL). */
    clusterStore?: ClusterStore;
    socket?: string;
    /** Run and state directory (nothing is written there until a server starts); default: a new temporary one. */
    dir?: string;
    /** Default: the real clock. */
    clock?: Clock;
    /** Encryption: the preshared key a password would yield. */
    presharedKey?: string;
    logger?: Logger;
  } = {},
): ComposedWithFakes {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "weave-compose-"));
  const args = [
    "--socket",
    o.socket ?? join(dir, "weave.sock"),
    "--run-dir",
    dir,
    "--state-dir",
    dir,
    "--status-addr",
    "",
    ...(o.dns ? [] : ["--no-dns"]),
    ...(o.clusterStore ? ["--store", "etcd://127.0.0.1:2379", "--advertise-addr", "192.0.2.1"] : []),
    ...(o.args ?? []),
  ];
  const config = parseConfig(args, {});
  const adapters: FakeAdapters = {
    state: openSqliteState(":memory:"),
    dataplane: new FakeDataplane(),
    docker: new FakeDocker(),
    ports: { dataplane: new FakePortDataplane(), reserver: new FakePortReserver() },
    ...(o.clusterStore ? { cluster: clusterFakes(o.clusterStore) } : {}),
    clock: o.clock ?? realClock,
  };
  let stops = 0;
  const daemon = composeDaemon({
    config,
    adapters,
    facts: {
      mtu: 1450,
      underlayMtu: 1500,
      attached: o.clusterStore ? ["192.0.2.0/24"] : [],
      ...(o.presharedKey !== undefined ? { presharedKey: o.presharedKey } : {}),
      advertiseAddr: o.clusterStore ? "192.0.2.1" : "",
      ulaRange: "fd12:3456:789a::/48",
      ephemeral: DEFAULT_EPHEMERAL_RANGE,
      socketGid: process.getgid?.() ?? 0,
    },
    logger: o.logger ?? silentLogger,
    stop: () => void stops++,
  });
  return { daemon, adapters, stops: () => stops };
}
