/**
 * NetworkSync over an in-memory store, real prefix mirrors and fake Dockers: a network reserved on
 * one host is published, created in the other hosts' Dockers with its cluster ID, removed from the
 * cluster by `docker network rm` on any host (copies with containers stay until they are gone),
 * name clashes are reported, and a host's own default network gives way to the cluster's.
 */
import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  BLOCKS,
  blockKey,
  endpointKey,
  ENDPOINTS,
  networkKey,
  NETWORKS,
  PEERS,
  poolKey,
  POOLS,
  ROOT,
  StoreHealth,
  vniKey,
  VNIS,
} from "../../../src/cluster/index.js";
import { PrefixMirror } from "../../../src/cluster/mirror.js";
import { FIRST_VNI, NetworkSync } from "../../../src/cluster/network-sync.js";
import { ClusterView, endpointKeeper } from "../../../src/cluster/view.js";
import { isWeaveError, silentLogger, WeaveError } from "../../../src/core/index.js";
import type { CreateNetworkBody } from "../../../src/docker/index.js";
import { FakeDocker } from "../../../src/docker/index.js";
import { OPT_BRIDGE_NAME, OPT_GENERIC, OPT_MTU } from "../../../src/driver/index.js";
import { CLUSTER_ID_OPTION } from "../../../src/store/index.js";
import type { KeyValue, LocalState } from "../../../src/store/index.js";
import { MemoryClusterStore, openSqliteState } from "../../../src/store/index.js";

const NOW = 1_700_000_000_000;
const now = (): number => NOW;
const APP = "00000000000000a1";
const OTHER = "00000000000000b2";
const DEFAULT = "00000000000000d1";

/** A store that can stop answering, as etcd does when it is unreachable (WEAVE_TIMEOUT). */
class FlakyStore extends MemoryClusterStore {
  down = false;
  private check(): void {
    if (this.down) throw new WeaveError("WEAVE_TIMEOUT", "connect ECONNREFUSED 127.0.0.1:2379");
  }
  override async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    this.check();
    return super.list(prefix);
  }
  override async get(key: string): Promise<KeyValue | undefined> {
    this.check();
    return super.get(key);
  }
  override async compareAndSwap(key: string, rev: number, value: string): Promise<boolean> {
    this.check();
    return super.compareAndSwap(key, rev, value);
  }
}

/**
 * Docker with weave as its driver: a network created or removed through the Engine API reaches
 * weave's CreateNetwork / DeleteNetwork, which record it in (or delete it from) the state, with
 * the cluster ID it was created with (the real driver also takes one from its reserved pool).
 */
class DriverDocker extends FakeDocker {
  readonly created: CreateNetworkBody[] = [];
  /** The next createNetwork fails as Docker does when it cannot create the network. */
  failNextCreate = false;
  constructor(private readonly state: LocalState) {
    super();
  }
  override async createNetwork(body: CreateNetworkBody): Promise<{ Id: string }> {
    if (this.failNextCreate) {
      this.failNextCreate = false;
      throw new WeaveError("WEAVE_DOCKER", "Docker API POST /networks/create failed (500): plugin timeout");
    }
    const res = await super.createNetwork(body);
    this.created.push(structuredClone(body));
    const clusterId = body.Options?.[CLUSTER_ID_OPTION];
    const config = body.IPAM?.Config ?? [];
    this.state.putNetwork({
      id: res.Id,
      bridge: body.Options?.[OPT_BRIDGE_NAME] ?? `weave-${body.Name}`,
      mtu: 1450,
      internal: body.Internal ?? false,
      ipv4: config
        .filter((c) => !c.Subnet?.includes(":"))
        .map((c) => ({ Pool: c.Subnet ?? "", Gateway: `${c.Gateway ?? ""}/24` })),
      ipv6: [],
      options: clusterId ? { [CLUSTER_ID_OPTION]: clusterId } : {},
      createdAt: NOW,
    });
    return res;
  }
  override async removeNetwork(id: string): Promise<void> {
    await super.removeNetwork(id);
    this.state.deleteNetwork(id);
  }
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/**
 * The view a Cluster gives NetworkSync: mirrors of the store's prefixes kept by watches (listed
 * before it returns, unless `listed` is false: then they never start).
 */
async function mirroredView(store: MemoryClusterStore, listed: boolean): Promise<ClusterView> {
  const mirror = (prefix: string) =>
    new PrefixMirror({ store, prefix, logger: silentLogger, onChange: () => undefined });
  const mirrors = {
    peers: mirror(PEERS),
    pools: mirror(POOLS),
    networks: mirror(NETWORKS),
    endpoints: new PrefixMirror({
      store,
      prefix: ENDPOINTS,
      logger: silentLogger,
      onChange: () => undefined,
      keep: endpointKeeper(silentLogger),
    }),
  };
  for (const m of Object.values(mirrors)) {
    if (listed) m.start();
    closers.push(() => m.close());
  }
  const view = new ClusterView(mirrors, silentLogger);
  while (listed && !view.synced) await new Promise((r) => setImmediate(r));
  return view;
}

async function host(store: MemoryClusterStore, name: string, defaultNetwork = "", listed = true) {
  const state = openSqliteState(":memory:");
  const docker = new DriverDocker(state);
  const view = await mirroredView(store, listed);
  const sync = new NetworkSync({
    store,
    health: new StoreHealth(silentLogger, now, "etcd://test"),
    view,
    state,
    docker,
    driverName: "weave",
    host: name,
    logger: silentLogger,
    now,
    defaultNetwork,
    defaultBridge: "weave",
  });
  return { name, state, docker, sync };
}
type Host = Awaited<ReturnType<typeof host>>;

/**
 * A network created on `h` with `docker network create` (RequestPool reserved its subnet in the
 * store for `claimedBy`, CreateNetwork recorded it); returns its Docker ID.
 */
async function localNetwork(
  store: MemoryClusterStore,
  h: Host,
  o: {
    name: string;
    subnet: string;
    clusterId: string;
    claimedBy?: string;
    internal?: boolean;
    v6?: boolean;
  },
): Promise<string> {
  const id = h.docker.addNetwork({ Name: o.name, Driver: "weave" });
  const base = o.subnet.replace(/0\/24$/, "");
  h.state.putPool({
    id: `LocalDefault/${o.subnet}`,
    family: 4,
    pool: o.subnet,
    subPool: `${base}128/25`,
    addressSpace: "LocalDefault",
    options: { [CLUSTER_ID_OPTION]: o.clusterId },
    replayPending: false,
    createdAt: NOW,
  });
  h.state.putNetwork({
    id,
    bridge: `weave-${o.name}`,
    mtu: 1400,
    internal: o.internal ?? false,
    ipv4: [{ Pool: o.subnet, Gateway: `${base}1/24`, AuxAddresses: { router: `${base}2/24` } }],
    ipv6: o.v6 ? [{ Pool: "fd00:40::/64", Gateway: "fd00:40::1/64" }] : [],
    options: {
      [CLUSTER_ID_OPTION]: o.clusterId,
      [OPT_GENERIC]: { [OPT_MTU]: "1400", [CLUSTER_ID_OPTION]: o.clusterId },
    },
    createdAt: NOW,
  });
  if (o.claimedBy !== "") {
    await store.put(
      poolKey(o.subnet),
      JSON.stringify({ clusterId: o.clusterId, host: o.claimedBy ?? h.name, createdAt: NOW }),
    );
  }
  return id;
}

/** Host a, with network app (internal, with IPv6) reserved there and published by a pass. */
async function publishedApp(store: MemoryClusterStore) {
  const a = await host(store, "a");
  const id = await localNetwork(store, a, {
    name: "app",
    subnet: "10.40.0.0/24",
    clusterId: APP,
    internal: true,
    v6: true,
  });
  const soon = await a.sync.pass();
  return { a, id, soon };
}

async function stored(store: MemoryClusterStore, key: string): Promise<unknown> {
  const kv = await store.get(key);
  return kv && (JSON.parse(kv.value) as unknown);
}
const keys = async (store: MemoryClusterStore, prefix: string): Promise<string[]> =>
  (await store.list(prefix)).items.map((kv) => kv.key);
const revision = async (store: MemoryClusterStore): Promise<number> => (await store.list(ROOT)).revision;
const byName = (h: Host, name: string) => [...h.docker.networks.values()].find((n) => n.Name === name);

/** The record a pass publishes for the network app of publishedApp. */
const APP_RECORD = {
  clusterId: APP,
  name: "app",
  vni: FIRST_VNI,
  ipv4: [
    { pool: "10.40.0.0/24", subPool: "10.40.0.128/25", gateway: "10.40.0.1", aux: { router: "10.40.0.2" } },
  ],
  ipv6: [{ pool: "fd00:40::/64", gateway: "fd00:40::1" }],
  internal: true,
  options: { [OPT_MTU]: "1400" },
  host: "a",
  createdAt: NOW,
};

void describe("NetworkSync: publishing", () => {
  void it("does nothing until the view has listed the store", async () => {
    const store = new MemoryClusterStore();
    const a = await host(store, "a", "weave", false);
    await localNetwork(store, a, { name: "app", subnet: "10.40.0.0/24", clusterId: APP });
    assert.equal(await a.sync.pass(), false);
    assert.deepEqual(a.docker.calls, []);
    assert.deepEqual(await keys(store, NETWORKS), [], "nothing published");
  });

  void it("publishes a network reserved here with a VXLAN ID, its subnets, gateways and driver options", async () => {
    const store = new MemoryClusterStore();
    const { a, soon } = await publishedApp(store);
    assert.equal(soon, false);
    assert.deepEqual(await stored(store, networkKey("app")), APP_RECORD);
    assert.equal((await store.get(vniKey(FIRST_VNI)))?.value, APP);

    await localNetwork(store, a, { name: "db", subnet: "10.41.0.0/24", clusterId: OTHER });
    const before = (await store.get(networkKey("app")))?.modRevision;
    await a.sync.pass();
    assert.equal(((await stored(store, networkKey("db"))) as { vni: number }).vni, FIRST_VNI + 1);
    assert.deepEqual(await keys(store, VNIS), [vniKey(FIRST_VNI), vniKey(FIRST_VNI + 1)]);
    assert.equal((await store.get(networkKey("app")))?.modRevision, before, "published once");
    assert.equal(a.docker.created.length, 0, "its own networks are not created again");
  });

  void it("leaves a network reserved by another host to that host, and retries while Docker or the mirror lag", async () => {
    const store = new MemoryClusterStore();
    const b = await host(store, "b");
    await localNetwork(store, b, { name: "app", subnet: "10.40.0.0/24", clusterId: APP, claimedBy: "a" });
    assert.equal(await b.sync.pass(), false);
    assert.deepEqual(await keys(store, NETWORKS), [], "a copy of another host's network is not published");

    const c = await host(store, "c");
    await localNetwork(store, c, { name: "db", subnet: "10.41.0.0/24", clusterId: OTHER, claimedBy: "" });
    assert.equal(await c.sync.pass(), true, "the reservation is not mirrored yet: again soon");
    assert.deepEqual(await keys(store, NETWORKS), []);

    const d = await host(store, "d");
    const id = await localNetwork(store, d, { name: "web", subnet: "10.42.0.0/24", clusterId: DEFAULT });
    d.docker.networks.delete(id); // CreateNetwork has not returned to Docker yet
    assert.equal(await d.sync.pass(), true, "Docker does not know the network yet: again soon");
    assert.deepEqual(await keys(store, NETWORKS), []);
  });
});

void describe("NetworkSync: creating the cluster's networks", () => {
  void it("creates every network of the cluster in this Docker, bound by weave.cluster.id", async () => {
    const store = new MemoryClusterStore();
    await publishedApp(store);
    const b = await host(store, "b");
    assert.equal(await b.sync.pass(), false);
    const expected: CreateNetworkBody = {
      Name: "app",
      Driver: "weave",
      CheckDuplicate: true,
      Internal: true,
      EnableIPv6: true,
      IPAM: {
        Driver: "weave",
        Config: [
          {
            Subnet: "10.40.0.0/24",
            IPRange: "10.40.0.128/25",
            Gateway: "10.40.0.1",
            AuxiliaryAddresses: { router: "10.40.0.2" },
          },
          { Subnet: "fd00:40::/64", Gateway: "fd00:40::1" },
        ],
        Options: { [CLUSTER_ID_OPTION]: APP },
      },
      Options: { [OPT_MTU]: "1400", [CLUSTER_ID_OPTION]: APP },
    };
    assert.deepEqual(b.docker.created, [expected]);
    assert.deepEqual(b.sync.createBody(APP_RECORD), expected);
    assert.deepEqual(b.sync.createBody({ ...APP_RECORD, ipv6: [], internal: false }), {
      ...expected,
      Internal: false,
      EnableIPv6: false,
      IPAM: {
        Driver: "weave",
        Config: expected.IPAM?.Config?.slice(0, 1),
        Options: { [CLUSTER_ID_OPTION]: APP },
      },
    });

    await b.sync.pass();
    assert.equal(b.docker.created.length, 1, "created once");
    assert.deepEqual([...b.sync.conflicts.keys()], []);
  });

  void it("reports a network of the same name that is not the cluster's, and creates the cluster's once it is gone", async () => {
    const store = new MemoryClusterStore();
    await publishedApp(store);
    const b = await host(store, "b");
    const mine = b.docker.addNetwork({ Name: "app", Driver: "bridge" });
    await b.sync.pass();
    assert.equal(
      b.sync.conflicts.get("app"),
      `This host's Docker has a network named "app" that is not the cluster's: remove or rename it to get the cluster's`,
    );
    assert.equal(byName(b, "app")?.Id, mine, "the local network is left alone");

    await b.docker.removeNetwork(mine);
    await b.sync.pass();
    assert.equal(byName(b, "app")?.Options?.[CLUSTER_ID_OPTION], APP);
    assert.equal(b.sync.conflicts.size, 0, "the conflict is cleared");
  });

  void it("keeps a network whose name the cluster already has local, gives its VXLAN ID back and stops trying", async () => {
    const store = new MemoryClusterStore();
    await publishedApp(store);
    const b = await host(store, "b");
    const mine = await localNetwork(store, b, { name: "app", subnet: "10.41.0.0/24", clusterId: OTHER });
    await b.sync.pass();
    assert.equal(((await stored(store, networkKey("app"))) as { clusterId: string }).clusterId, APP);
    assert.deepEqual(await keys(store, VNIS), [vniKey(FIRST_VNI)], "the VXLAN ID it took is freed");
    assert.ok(b.sync.conflicts.has("app"), "the clash is reported");
    assert.equal(byName(b, "app")?.Id, mine);
    const rev = await revision(store);
    await b.sync.pass();
    assert.equal(await revision(store), rev, "no second attempt to publish it");
  });
});

void describe("NetworkSync: removal from the cluster", () => {
  /** `app` published by a, copied to b, with a container on b. */
  async function cluster() {
    const store = new FlakyStore();
    const { a, id: aId } = await publishedApp(store);
    const b = await host(store, "b");
    await b.sync.pass();
    const bId = byName(b, "app")?.Id ?? "";
    b.docker.addContainer(bId, "c".repeat(64), {
      Name: "web",
      EndpointID: "e".repeat(64),
      MacAddress: "02:42:0a:28:00:05",
      IPv4Address: "10.40.0.5/24",
      IPv6Address: "",
    });
    await store.put(
      endpointKey("b", APP, "e".repeat(64)),
      JSON.stringify({ mac: "02:42:0a:28:00:05", ipv4: "10.40.0.5/24", ipv6: "" }),
    );
    await store.put(blockKey(APP, "10.40.0.0/28"), JSON.stringify({ host: "a", createdAt: NOW }));
    return { store, a, aId, b, bId };
  }

  void it("marks the record removed; the copy with containers stays until they are gone, then everything goes", async () => {
    const { store, a, aId, b, bId } = await cluster();
    // `docker network rm app` on a: DeleteNetwork removes it from the cluster, then Docker drops it.
    await a.sync.removeFromCluster(aId);
    await a.docker.removeNetwork(aId);
    assert.deepEqual(((await stored(store, networkKey("app"))) as { removed?: unknown }).removed, {
      host: "a",
      at: NOW,
    });
    const marked = (await store.get(networkKey("app")))?.modRevision;
    await a.sync.removeFromCluster(aId);
    assert.equal((await store.get(networkKey("app")))?.modRevision, marked, "removing twice changes nothing");

    await a.sync.pass();
    assert.equal(byName(a, "app"), undefined, "a does not create it again");
    const c = await host(store, "c");
    await c.sync.pass();
    assert.deepEqual(c.docker.created, [], "a host that joins later does not create it");

    await b.sync.pass();
    assert.equal(byName(b, "app")?.Id, bId, "Docker refuses while a container is attached");
    assert.ok(await store.get(networkKey("app")), "the record stays while a host has containers on it");
    await b.sync.pass();
    assert.equal(
      b.docker.calls.filter((x) => x.startsWith("removeNetwork")).length,
      2,
      "tried on every pass",
    );

    b.docker.addNetwork({ ...(await b.docker.inspectNetwork(bId)), Containers: {} });
    await store.delete(endpointKey("b", APP, "e".repeat(64)));
    await b.sync.pass();
    assert.equal(byName(b, "app"), undefined, "b removes its copy once its containers are gone");
    for (const prefix of [NETWORKS, VNIS, POOLS, BLOCKS]) {
      assert.deepEqual(await keys(store, prefix), [], `${prefix} emptied`);
    }
  });

  void it("does nothing for a network that is not the cluster's, and says when the store is unreachable", async () => {
    const { store, a, aId } = await cluster();
    const local = a.docker.addNetwork({ Name: "solo", Driver: "weave" });
    a.state.putNetwork({
      id: local,
      bridge: "weave-solo",
      mtu: 1450,
      internal: false,
      ipv4: [{ Pool: "10.50.0.0/24", Gateway: "10.50.0.1/24" }],
      ipv6: [],
      options: {},
      createdAt: NOW,
    });
    store.down = true;
    await a.sync.removeFromCluster(local);
    await a.sync.removeFromCluster("f".repeat(64));
    await assert.rejects(
      a.sync.removeFromCluster(aId),
      (err) =>
        isWeaveError(err, "WEAVE_TIMEOUT") &&
        /^Cannot remove the network from the cluster: the cluster store \(etcd:\/\/test\) is unreachable: connect ECONNREFUSED/.test(
          err.message,
        ),
    );
    store.down = false;
    assert.equal(((await stored(store, networkKey("app"))) as { removed?: unknown }).removed, undefined);
  });
});

void describe("NetworkSync: the default network", () => {
  /** The cluster's default network `weave`, published by host a. */
  async function withDefault(store: MemoryClusterStore) {
    const a = await host(store, "a", "weave");
    await localNetwork(store, a, { name: "weave", subnet: "10.32.0.0/24", clusterId: DEFAULT });
    await a.sync.pass();
    assert.ok(await store.get(networkKey("weave")));
  }
  /** The default network a host made while it ran alone (no cluster ID). */
  function ownDefault(h: Host, containers = false): string {
    const id = h.docker.addNetwork({ Name: "weave", Driver: "weave" });
    if (containers) {
      h.docker.addContainer(id, "c".repeat(64), {
        Name: "web",
        EndpointID: "e".repeat(64),
        MacAddress: "02:42:0a:20:00:02",
        IPv4Address: "10.32.0.2/24",
        IPv6Address: "",
      });
    }
    h.state.putNetwork({
      id,
      bridge: "weave",
      mtu: 1450,
      internal: false,
      ipv4: [{ Pool: "10.32.0.0/24", Gateway: "10.32.0.1/24" }],
      ipv6: [],
      options: {},
      createdAt: NOW,
    });
    return id;
  }

  void it("replaces a host's own empty default network by the cluster's", async () => {
    const store = new MemoryClusterStore();
    await withDefault(store);
    const b = await host(store, "b", "weave");
    const old = ownDefault(b);
    await b.sync.pass();
    const replaced = byName(b, "weave");
    assert.notEqual(replaced?.Id, old);
    assert.equal(replaced?.Options?.[CLUSTER_ID_OPTION], DEFAULT);
    assert.equal(b.docker.created.length, 1);
    assert.equal(b.sync.conflicts.size, 0);
  });

  void it("keeps a host's own default network with containers, says so, and recreates it through the cluster once empty", async () => {
    const store = new MemoryClusterStore();
    const b = await host(store, "b", "weave");
    const old = ownDefault(b, true);
    await b.sync.pass();
    assert.equal(byName(b, "weave")?.Id, old);
    assert.equal(
      b.sync.conflicts.get("weave"),
      `The default network "weave" was created before this host joined the cluster and has containers: it stays local to this host until they are gone`,
    );

    b.docker.addNetwork({ ...(await b.docker.inspectNetwork(old)), Containers: {} });
    await b.sync.pass();
    assert.deepEqual(b.docker.created, [
      {
        Name: "weave",
        Driver: "weave",
        CheckDuplicate: true,
        IPAM: { Driver: "weave" },
        Options: { [OPT_BRIDGE_NAME]: "weave" },
      },
    ]);
    assert.equal(b.sync.conflicts.size, 0);
  });

  void it("creates the default network on the next pass when its replacement could not be created", async () => {
    const store = new MemoryClusterStore();
    const b = await host(store, "b", "weave");
    ownDefault(b);
    b.docker.failNextCreate = true;
    await assert.rejects(b.sync.pass(), (err) => isWeaveError(err, "WEAVE_DOCKER"));
    assert.equal(byName(b, "weave"), undefined, "removed, not created");
    await b.sync.pass();
    assert.equal(byName(b, "weave")?.Options?.[OPT_BRIDGE_NAME], "weave");
  });

  void it("keeps a default network with containers that is not the cluster's, reported", async () => {
    const store = new MemoryClusterStore();
    await withDefault(store);
    const b = await host(store, "b", "weave");
    const old = ownDefault(b, true);
    await b.sync.pass();
    assert.equal(byName(b, "weave")?.Id, old);
    assert.deepEqual(b.docker.created, []);
    assert.ok(b.sync.conflicts.has("weave"));
  });

  void it("the loser of a race to publish the default network replaces its empty copy by the winner's", async () => {
    const store = new MemoryClusterStore();
    await withDefault(store);
    const b = await host(store, "b", "weave");
    const old = await localNetwork(store, b, { name: "weave", subnet: "10.33.0.0/24", clusterId: OTHER });
    await b.sync.pass();
    assert.notEqual(byName(b, "weave")?.Id, old);
    assert.equal(byName(b, "weave")?.Options?.[CLUSTER_ID_OPTION], DEFAULT);
    assert.deepEqual(await keys(store, VNIS), [vniKey(FIRST_VNI)]);
    assert.equal(b.sync.conflicts.size, 0);
  });

  void it("replaces an empty default network not yet published (reservation not mirrored) by the cluster's", async () => {
    const store = new MemoryClusterStore();
    await withDefault(store);
    const b = await host(store, "b", "weave");
    const old = await localNetwork(store, b, {
      name: "weave",
      subnet: "10.33.0.0/24",
      clusterId: OTHER,
      claimedBy: "",
    });
    await b.sync.pass();
    assert.notEqual(byName(b, "weave")?.Id, old);
    assert.equal(byName(b, "weave")?.Options?.[CLUSTER_ID_OPTION], DEFAULT);
  });
});
