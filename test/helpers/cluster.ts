/**
 * One host's real Cluster over fakes, for tests: SQLite ":memory:" holding this host's copy of
 * cluster network "weave" (pool 10.32.0.0/N), IPAM over 10.32.0.0/12, a FakeDocker and the fake
 * transports, over the store the test gives. Also the records of that network, in the store as
 * host "a" created it and in a host's state, and an endpoint of it.
 */
import type { ClusterNetwork, ClusterOptions } from "../../src/cluster/index.js";
import { Cluster, networkKey, poolKey, vniKey } from "../../src/cluster/index.js";
import type { Clock } from "../../src/core/index.js";
import { silentLogger } from "../../src/core/index.js";
import { FakeDocker } from "../../src/docker/index.js";
import { IpamService, parsePrefix } from "../../src/ipam/index.js";
import type { ClusterStore, EndpointRecord, LocalState, NetworkRecord } from "../../src/store/index.js";
import { openSqliteState } from "../../src/store/index.js";
import { fakeTransports } from "./transport-fakes.js";

/** The shape of network "weave" in the tests: pool 10.32.0.0/`bits`, created at `createdAt`. */
export interface NetworkShape {
  /** The pool's prefix length (default 24). */
  bits?: number;
  /** Milliseconds since the epoch (default 0). */
  createdAt?: number;
}

export interface TestClusterOptions extends NetworkShape {
  store: ClusterStore;
  clusterId: string;
  /** Default "etcd://test". */
  storeUrl?: string;
  /** The host's name (default "a"); its local network is `net-<name>`. */
  name?: string;
  /** Default "192.168.1.1". */
  advertiseAddr?: string;
  /** Put in the state before the IPAM and the Cluster are made. */
  endpoints?: EndpointRecord[];
  /** Default: the real time. */
  now?: () => number;
  clock?: Clock;
  dnsZone?: ClusterOptions["dnsZone"];
  /** Options of fakeTransports (default: VXLAN only, no encryption). */
  transports?: Parameters<typeof fakeTransports>[0];
  /** Default: fakeTransports' (1350). */
  containerMtu?: number;
  intervalMs?: number;
}

/** Pool 10.32.0.0/`bits` and its gateway, as Docker's IPAM data. */
const ipamData = (bits: number) => ({ Pool: `10.32.0.0/${bits}`, Gateway: `10.32.0.1/${bits}` });

/** The cluster's record of network "weave" (VNI `vni`), created by host "a"; `gateway` as given. */
export function clusterNetwork(
  clusterId: string,
  vni: number,
  o: NetworkShape & { gateway?: string } = {},
): ClusterNetwork {
  const subnet = { pool: `10.32.0.0/${o.bits ?? 24}`, ...(o.gateway ? { gateway: o.gateway } : {}) };
  return {
    clusterId,
    name: "weave",
    vni,
    ipv4: [subnet],
    ipv6: [],
    internal: false,
    options: {},
    host: "a",
    createdAt: o.createdAt ?? 0,
  };
}

/** This host's copy of that network (bridge "weave", MTU 1350), bound to it by weave.cluster.id. */
export function localNetwork(id: string, clusterId: string, o: NetworkShape = {}): NetworkRecord {
  return {
    id,
    bridge: "weave",
    mtu: 1350,
    internal: false,
    ipv4: [ipamData(o.bits ?? 24)],
    ipv6: [],
    options: { "weave.cluster.id": clusterId },
    createdAt: o.createdAt ?? 0,
  };
}

/**
 * A container's endpoint on "net-a" with MAC 02:42:0a:20:00:02; `letter` names it (id, interfaces).
 * `ipv4` is a CIDR.
 */
export function localEndpoint(letter: string, ipv4: string, createdAt = 0): EndpointRecord {
  return {
    id: letter.repeat(64),
    networkId: "net-a",
    hostIf: `vw${letter.repeat(11)}`,
    peerIf: `vwp${letter.repeat(10)}`,
    mac: "02:42:0a:20:00:02",
    ipv4,
    ipv6: null,
    sandboxKey: null,
    createdAt,
  };
}

/**
 * Writes network "weave" (VNI 4096) to the store as host "a" creates it: the claim of its pool, its
 * VNI and its record (`gateway` as given). Resolves when all three are written.
 */
export async function publishNetwork(
  store: ClusterStore,
  clusterId: string,
  o: NetworkShape & { gateway?: string } = {},
): Promise<void> {
  const createdAt = o.createdAt ?? 0;
  await store.put(poolKey(`10.32.0.0/${o.bits ?? 24}`), JSON.stringify({ clusterId, host: "a", createdAt }));
  await store.put(vniKey(4096), clusterId);
  await store.put(networkKey("weave"), JSON.stringify(clusterNetwork(clusterId, 4096, o)));
}

/** The host's state: its copy of network "weave", then `o.endpoints`. */
function hostState(o: TestClusterOptions): LocalState {
  const state = openSqliteState(":memory:");
  state.putNetwork(localNetwork(`net-${o.name ?? "a"}`, o.clusterId, o));
  for (const e of o.endpoints ?? []) state.putEndpoint(e);
  return state;
}

/**
 * Builds (does not start) one host's Cluster; the IPAM's subnets are as long as the pool's prefix.
 * Returns it with its state, Docker and the transports' fakes.
 */
export function testCluster(o: TestClusterOptions) {
  const now = o.now ?? (() => Date.now());
  const state = hostState(o);
  const range = {
    range: parsePrefix("10.32.0.0/12"),
    subnetBits: o.bits ?? 24,
    rangeV6: parsePrefix("fd00::/48"),
  };
  const ipam = new IpamService(state, { ...range, subnetBitsV6: 64, replayWindowMs: 1_000 }, now);
  const t = fakeTransports(o.transports);
  const docker = new FakeDocker();
  const cluster = new Cluster({
    store: o.store,
    storeUrl: o.storeUrl ?? "etcd://test",
    state,
    docker,
    ipam,
    transports: t.transports,
    transport: t.transport,
    encryption: t.encryption,
    containerMtu: o.containerMtu ?? t.containerMtu,
    logger: silentLogger,
    now,
    clock: o.clock,
    name: o.name ?? "a",
    advertiseAddr: o.advertiseAddr ?? "192.168.1.1",
    vxlanPort: 4789,
    driverName: "weave",
    defaultNetwork: "",
    ...(o.dnsZone ? { dnsZone: o.dnsZone } : {}),
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
  });
  const { overlay, routed, wireguard, keys } = t;
  return { cluster, state, docker, overlay, routed, wireguard, keys };
}
