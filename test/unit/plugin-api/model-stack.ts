/**
 * The real plugin stack for model-based tests: PluginServer on a unix socket, the real routes,
 * NetworkDriver, IpamService and SQLite state (":memory:"), and the fake data plane. One server
 * serves every run; each run swaps in a fresh stack behind the same route table. Also: the
 * consistency checks of the stored state that must hold after every call.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JsonObject } from "../../../src/core/index.js";
import { KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { FakeDataplane } from "../../../src/dataplane/index.js";
import { NetworkDriver } from "../../../src/driver/index.js";
import type { Prefix } from "../../../src/ipam/index.js";
import { containsAddress, IpamService, parseAddress, parsePrefix } from "../../../src/ipam/index.js";
import type { Route } from "../../../src/plugin-api/index.js";
import { buildRoutes, PluginServer } from "../../../src/plugin-api/index.js";
import type { LocalState } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

export interface Reply {
  status: number;
  json: JsonObject;
}

/** The error text of a reply (Err or Error), or undefined for a success. */
export function errorOf(r: Reply): string | undefined {
  const e = r.json["Err"] ?? r.json["Error"];
  return typeof e === "string" ? e : undefined;
}

/** A string field of a successful reply (asserts that it is one). */
export function text(r: Reply, key: string): string {
  const v = r.json[key];
  assert.equal(typeof v, "string", `${key} in ${JSON.stringify(r.json)}`);
  return v as string;
}

export class ModelServer {
  private readonly dir = mkdtempSync(join(tmpdir(), "weave-model-"));
  private readonly routes = new Map<string, Route>();
  readonly socket = join(this.dir, "weave.sock");
  private readonly server = new PluginServer({
    socketPath: this.socket,
    socketMode: 0o600,
    socketGid: process.getgid?.() ?? 0,
    routes: this.routes,
    logger: silentLogger,
  });

  start(): Promise<void> {
    return this.server.start();
  }

  async close(): Promise<void> {
    await this.server.close(1_000);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A fresh state, driver and IPAM behind the server's routes. */
  fresh(): LocalState {
    const state = openSqliteState(":memory:");
    const dp = new FakeDataplane();
    const queue = new KeyedSerialQueue();
    const now = () => Date.now();
    const ipam = new IpamService(
      state,
      {
        range: parsePrefix("10.32.0.0/12"),
        subnetBits: 24,
        rangeV6: parsePrefix("fd12:3456:789a::/48"),
        subnetBitsV6: 64,
        replayWindowMs: 60_000,
      },
      now,
    );
    const driver = new NetworkDriver({
      state,
      dataplane: dp,
      queue,
      logger: silentLogger,
      config: { mtu: 1450, nameserver: undefined },
      now,
      onSubnetClash: (pools) => ipam.expectRollback(pools),
    });
    this.routes.clear();
    for (const [path, route] of buildRoutes({ driver, ipam, hostRoutes: async () => [] })) {
      this.routes.set(path, route);
    }
    return state;
  }

  /** One call the way dockerd makes it: POST, JSON body with a newline, no Content-Type. */
  post(path: string, body?: unknown): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socket, method: "POST", path: `/${path}`, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const json = JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonObject;
            resolve({ status: res.statusCode ?? 0, json });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body) + "\n");
    });
  }
}

function cidrAddress(field: string, value: string): { value: bigint; family: 4 | 6 } {
  const [ip = "", bits = ""] = value.split("/");
  assert.match(bits, /^\d{1,3}$/, `${field} "${value}" has a prefix length`);
  return parseAddress(ip);
}

/**
 * Asserts the stored state is consistent: every stored value parses, every endpoint's addresses
 * lie in its network's subnets, no two endpoints of a network share an address, and every
 * endpoint's address is reserved in the IPAM pool of its subnet when weave's IPAM has that pool.
 */
export function assertConsistent(state: LocalState): void {
  const pools = state.listPools();
  for (const p of pools) {
    parsePrefix(p.pool, { strict: true });
    if (p.subPool !== null) parsePrefix(p.subPool, { strict: true });
  }
  for (const a of state.listAddresses()) parseAddress(a.address);
  for (const n of state.listNetworks()) {
    const subnets: Prefix[] = [];
    for (const d of [...n.ipv4, ...n.ipv6]) {
      const pool = parsePrefix(d.Pool);
      subnets.push(pool);
      if (d.Gateway) assert.ok(containsAddress(pool, cidrAddress("Gateway", d.Gateway)), d.Gateway);
      for (const aux of Object.values(d.AuxAddresses ?? {})) {
        assert.ok(containsAddress(pool, parseAddress(aux.split("/")[0] ?? "")), aux);
      }
    }
    const seen = new Map<string, string>();
    for (const ep of state.listEndpoints(n.id)) {
      assert.match(ep.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, `endpoint ${ep.id} MAC`);
      for (const value of [ep.ipv4, ep.ipv6]) {
        if (value === null) continue;
        const addr = cidrAddress("endpoint address", value);
        const home = subnets.find((s) => containsAddress(s, addr));
        assert.ok(home, `endpoint ${ep.id} address ${value} lies in a subnet of its network`);
        const key = `${addr.family}/${addr.value}`;
        assert.equal(seen.get(key), undefined, `${value} is held by ${seen.get(key)} and ${ep.id}`);
        seen.set(key, ep.id);
        const pool = pools.find((p) => parsePrefix(p.pool).base === home.base && p.family === home.family);
        if (pool) {
          const text = value.split("/")[0] ?? "";
          const reserved = state
            .listAddresses(pool.id)
            .some((a) => parseAddress(a.address).value === addr.value);
          assert.ok(reserved, `${text} of endpoint ${ep.id} is reserved in ${pool.id}`);
        }
      }
    }
  }
}
