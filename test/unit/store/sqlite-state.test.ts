import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { isWeaveError } from "../../../src/core/index.js";
import type {
  AddressRecord,
  EndpointRecord,
  LocalState,
  NetworkRecord,
  PoolRecord,
} from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";
import { MIGRATIONS } from "../../../src/store/migrations.js";

const dir = mkdtempSync(join(tmpdir(), "weave-store-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const dbPath = () => join(dir, `db-${++seq}`, "weave.db");

const NET_ID = "a".repeat(64);
const network = (over: Partial<NetworkRecord> = {}): NetworkRecord => ({
  id: NET_ID,
  bridge: "weave-aaaaaaaaa",
  mtu: 1450,
  internal: false,
  ipv4: [
    {
      AddressSpace: "LocalDefault",
      Pool: "10.32.0.0/24",
      Gateway: "10.32.0.1/24",
      AuxAddresses: { a: "10.32.0.5/24" },
    },
  ],
  ipv6: [],
  options: { "com.docker.network.enable_ipv6": false, "com.docker.network.generic": { x: "y" } },
  createdAt: 100,
  ...over,
});
const endpoint = (over: Partial<EndpointRecord> = {}): EndpointRecord => ({
  id: "e".repeat(64),
  networkId: NET_ID,
  hostIf: "vweeeeeeeeeee",
  peerIf: "vwpeeeeeeeeee",
  mac: "02:42:0a:20:00:02",
  ipv4: "10.32.0.2/24",
  ipv6: null,
  sandboxKey: null,
  createdAt: 200,
  ...over,
});
const pool = (over: Partial<PoolRecord> = {}): PoolRecord => ({
  id: "LocalDefault/10.32.0.0/24",
  family: 4,
  pool: "10.32.0.0/24",
  subPool: null,
  addressSpace: "LocalDefault",
  options: { opt: "v" },
  replayPending: false,
  createdAt: 300,
  ...over,
});
const address = (over: Partial<AddressRecord> = {}): AddressRecord => ({
  poolId: "LocalDefault/10.32.0.0/24",
  address: "10.32.0.1",
  kind: "gateway",
  replayPending: false,
  createdAt: 400,
  ...over,
});

function withState(fn: (s: LocalState) => void): void {
  const s = openSqliteState(":memory:");
  try {
    fn(s);
  } finally {
    s.close();
  }
}

void describe("openSqliteState: schema", () => {
  void it("runs the migrations and records user_version", () => {
    const path = dbPath();
    openSqliteState(path).close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma("user_version", { simple: true }), MIGRATIONS.length);
      const tables = db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => r.name);
      assert.deepEqual(tables, [
        "addresses",
        "blocks",
        "dns_records",
        "endpoints",
        "meta",
        "networks",
        "pools",
        "port_bindings",
      ]);
    } finally {
      db.close();
    }
    // Re-opening an up-to-date database runs nothing and keeps the data usable.
    const again = openSqliteState(path);
    again.putMeta("k", "v");
    again.close();
    const third = openSqliteState(path);
    assert.equal(third.getMeta("k"), "v");
    third.close();
  });

  void it("creates the state directory with mode 0700", () => {
    const path = dbPath();
    openSqliteState(path).close();
    assert.equal(statSync(join(path, "..")).mode & 0o777, 0o700);
  });

  void it("refuses a database from a newer weave with WEAVE_STATE", () => {
    const path = dbPath();
    openSqliteState(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(
      () => openSqliteState(path),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_STATE") &&
        /newer than this weave/.test(err.message) &&
        /upgrade/.test(err.message),
    );
  });

  void it("reports a file that is not a database with WEAVE_STATE naming the path", () => {
    assert.throws(
      () => openSqliteState(dir), // a directory
      (err: unknown) => isWeaveError(err, "WEAVE_STATE") && err.message.includes(dir),
    );
  });
});

void describe("SqliteState: records", () => {
  void it("networks round-trip, update in place and delete", () =>
    withState((s) => {
      const n = network();
      s.putNetwork(n);
      assert.deepEqual(s.getNetwork(n.id), n);
      assert.deepEqual(s.listNetworks(), [n]);
      const changed = network({
        mtu: 1400,
        internal: true,
        ipv6: [{ Pool: "fd00::/64", Gateway: "fd00::1/64" }],
      });
      s.putNetwork({ ...changed, createdAt: 999 });
      // createdAt is kept by an update
      assert.deepEqual(s.getNetwork(n.id), changed);
      const other = network({ id: "b".repeat(64), bridge: "weave", createdAt: 50 });
      s.putNetwork(other);
      assert.deepEqual(
        s.listNetworks().map((x) => x.id),
        [other.id, n.id],
        "ordered by creation time",
      );
      s.deleteNetwork(n.id);
      s.deleteNetwork(n.id);
      assert.equal(s.getNetwork(n.id), undefined);
      assert.deepEqual(s.listNetworks(), [other]);
    }));

  void it("two networks cannot share a bridge name", () =>
    withState((s) => {
      s.putNetwork(network());
      assert.throws(() => s.putNetwork(network({ id: "c".repeat(64) })));
    }));

  void it("endpoints round-trip, filter by network, keep sandbox keys and delete", () =>
    withState((s) => {
      s.putNetwork(network());
      s.putNetwork(network({ id: "b".repeat(64), bridge: "weave" }));
      const e1 = endpoint();
      const e2 = endpoint({
        id: "f".repeat(64),
        networkId: "b".repeat(64),
        hostIf: "vwefffffffffff",
        peerIf: "vwpfffffffffff",
        ipv4: null,
        ipv6: "fd00::2/64",
      });
      s.putEndpoint(e1);
      s.putEndpoint(e2);
      assert.deepEqual(s.getEndpoint(e1.id), e1);
      assert.deepEqual(s.listEndpoints(), [e1, e2]);
      assert.deepEqual(s.listEndpoints(NET_ID), [e1]);
      assert.deepEqual(s.listEndpoints("nope"), []);
      s.setEndpointSandbox(e1.id, "/var/run/docker/netns/abc");
      assert.equal(s.getEndpoint(e1.id)?.sandboxKey, "/var/run/docker/netns/abc");
      s.setEndpointSandbox(e1.id, null);
      assert.equal(s.getEndpoint(e1.id)?.sandboxKey, null);
      s.setEndpointSandbox("unknown", "x"); // no-op
      s.deleteEndpoint(e1.id);
      s.deleteEndpoint(e1.id);
      assert.deepEqual(s.listEndpoints(), [e2]);
    }));

  void it("an endpoint needs an existing network", () =>
    withState((s) => {
      assert.throws(() => s.putEndpoint(endpoint()));
    }));

  void it("deleting a network cascades to its endpoints only", () =>
    withState((s) => {
      s.putNetwork(network());
      s.putNetwork(network({ id: "b".repeat(64), bridge: "weave" }));
      s.putEndpoint(endpoint());
      const keep = endpoint({
        id: "f".repeat(64),
        networkId: "b".repeat(64),
        hostIf: "vwef",
        peerIf: "vwpf",
      });
      s.putEndpoint(keep);
      s.deleteNetwork(NET_ID);
      assert.deepEqual(s.listEndpoints(), [keep]);
    }));

  void it("pools and addresses round-trip with replay marks", () =>
    withState((s) => {
      const p = pool();
      const p6 = pool({
        id: "LocalDefault/fd00::/64",
        family: 6,
        pool: "fd00::/64",
        subPool: "fd00::/80",
        createdAt: 301,
      });
      s.putPool(p);
      s.putPool(p6);
      assert.deepEqual(s.getPool(p.id), p);
      assert.deepEqual(s.listPools(), [p, p6]);
      const a1 = address();
      const a2 = address({ address: "10.32.0.2", kind: "endpoint", createdAt: 401 });
      const a3 = address({ poolId: p6.id, address: "fd00::1", createdAt: 402 });
      s.putAddress(a1);
      s.putAddress(a2);
      s.putAddress(a3);
      assert.deepEqual(s.getAddress(p.id, "10.32.0.2"), a2);
      assert.equal(s.getAddress(p.id, "10.32.0.99"), undefined);
      assert.deepEqual(s.listAddresses(p.id), [a1, a2]);
      assert.equal(s.listAddresses().length, 3);

      s.markAllReplayPending();
      assert.ok(s.listPools().every((x) => x.replayPending));
      assert.ok(s.listAddresses().every((x) => x.replayPending));
      s.setPoolReplayed(p.id);
      s.setAddressReplayed(p.id, "10.32.0.2");
      assert.equal(s.getPool(p.id)?.replayPending, false);
      assert.equal(s.getPool(p6.id)?.replayPending, true);
      assert.equal(s.getAddress(p.id, "10.32.0.2")?.replayPending, false);
      assert.equal(s.getAddress(p.id, "10.32.0.1")?.replayPending, true);
      s.clearReplayPending();
      assert.ok(s.listPools().every((x) => !x.replayPending));
      assert.ok(s.listAddresses().every((x) => !x.replayPending));

      s.deleteAddress(p.id, "10.32.0.2");
      s.deleteAddress(p.id, "10.32.0.2");
      assert.deepEqual(s.listAddresses(p.id), [a1]);
    }));

  void it("an address needs an existing pool", () =>
    withState((s) => {
      assert.throws(() => s.putAddress(address()));
    }));

  void it("deleting a pool cascades to its addresses only", () =>
    withState((s) => {
      const p = pool();
      const q = pool({ id: "LocalDefault/10.33.0.0/24", pool: "10.33.0.0/24" });
      s.putPool(p);
      s.putPool(q);
      s.putAddress(address());
      s.putAddress(address({ address: "10.32.0.2", kind: "endpoint" }));
      const keep = address({ poolId: q.id, address: "10.33.0.1" });
      s.putAddress(keep);
      s.deletePool(p.id);
      s.deletePool(p.id);
      assert.equal(s.getPool(p.id), undefined);
      assert.deepEqual(s.listAddresses(), [keep]);
    }));

  void it("meta values round-trip and overwrite", () =>
    withState((s) => {
      assert.equal(s.getMeta("ula"), undefined);
      s.putMeta("ula", "fd01::/48");
      s.putMeta("ula", "fd02::/48");
      assert.equal(s.getMeta("ula"), "fd02::/48");
    }));

  void it("transaction is all or nothing", () =>
    withState((s) => {
      assert.throws(() =>
        s.transaction(() => {
          s.putMeta("a", "1");
          throw new Error("boom");
        }),
      );
      assert.equal(s.getMeta("a"), undefined);
      assert.equal(
        s.transaction(() => {
          s.putMeta("a", "2");
          return 7;
        }),
        7,
      );
      assert.equal(s.getMeta("a"), "2");
    }));

  void it("records survive closing and re-opening a file database; close is idempotent", () => {
    const path = dbPath();
    const s = openSqliteState(path);
    s.putNetwork(network());
    s.putEndpoint(endpoint({ sandboxKey: "/var/run/docker/netns/x" }));
    s.putPool(pool());
    s.putAddress(address());
    s.close();
    s.close();
    const t = openSqliteState(path);
    try {
      assert.deepEqual(t.listNetworks(), [network()]);
      assert.deepEqual(t.listEndpoints(), [endpoint({ sandboxKey: "/var/run/docker/netns/x" })]);
      assert.deepEqual(t.listPools(), [pool()]);
      assert.deepEqual(t.listAddresses(), [address()]);
    } finally {
      t.close();
    }
  });
});
