/**
 * The synthetic side of bench:scale, run by bench/scale.ts inside the etcd switch's namespace:
 * simulated weave hosts that write what real hosts write, with weave's own record code (key layout
 * and record types of src/cluster/records.ts, EtcdStore of src/store): a lease per host renewed
 * every 5 s, peers/<host> under it, one address block per network, endpoints/<host>/... and
 * dns/<host>/... for each container. Then it churns at the given rate: containers started and
 * stopped, hosts joining, hosts dying by lease expiry (their renewals stop).
 *
 * argv: a JSON SimConfig. stdout: one JSON line per event (SimEvent), stamped with Date.now().
 */
import { etcdPost, txnAnswer, b64 } from "../src/store/etcd-wire.js";
import { EtcdStore } from "../src/store/index.js";
import type { DnsRecordSet, PeerRecord, PublishedEndpoint, BlockClaim } from "../src/cluster/records.js";
import {
  blockKey,
  dnsKey,
  endpointKey,
  NETWORKS,
  parseClusterNetwork,
  peerKey,
} from "../src/cluster/records.js";
import { nodeHttp } from "../src/core/index.js";
import { toZoneName } from "../src/dns/index.js";

export interface SimConfig {
  etcd: string;
  hosts: number;
  perHost: number;
  /** Network names, as created on the real host. */
  networks: string[];
  changesPerS: number;
  seconds: number;
  /** True (the default): 10 % of the changes are hosts joining and 10 % hosts dying; false: containers only. */
  hostChurn?: boolean;
}

/** One container as the simulation knows it. */
export interface SimContainer {
  host: string;
  network: string;
  mac: string;
  ip: string;
  name: string;
}

export type SimEvent =
  | { kind: "populated"; t: number; hosts: number; endpoints: number; ms: number }
  | { kind: "add" | "remove"; t: number; c: SimContainer }
  | { kind: "join"; t: number; host: string; containers: SimContainer[] }
  | { kind: "die"; t: number; host: string; containers: SimContainer[] }
  | { kind: "done"; t: number; changes: number; writes: number };

const TTL_S = 15;
const RENEW_MS = 5_000;
const TXN_OPS = 100; // etcd's --max-txn-ops is 128
const DOMAIN = "weave.local.";

const config = JSON.parse(process.argv[2] ?? "{}") as SimConfig;
const store = new EtcdStore({ endpoints: [config.etcd], timeoutMs: 20_000 });
const emit = (e: SimEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);

interface SimHost {
  name: string;
  lease: string;
  address: string;
  containers: Map<string, SimContainer>;
  /** Per network: the block's base (third and fourth octets counted from the subnet). */
  blocks: Map<string, { clusterId: string; base: number; used: number }>;
  renewing: boolean;
  /** When its lease was last renewed (or granted). */
  renewedAt: number;
}

interface Net {
  name: string;
  clusterId: string;
  /** First address of the subnet as a number. */
  start: number;
  /** Prefix length of the subnet. */
  bits: number;
  nextBlock: number;
}

let macCounter = 0;
let writes = 0;
const ipOf = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const ipNum = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const newMac = () => {
  const n = ++macCounter;
  return `02:5c:${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, "0")).join(":")}`;
};

/** Runs `write` again (up to 5 times, 1 s apart) when etcd is too busy to answer in time. */
async function retried<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= 5) throw err;
      process.stderr.write(`scale-sim: etcd write failed, retrying: ${String(err)}\n`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

async function txn(ops: { key: string; value?: string; lease?: string }[]): Promise<void> {
  for (let i = 0; i < ops.length; i += TXN_OPS) {
    const success = ops.slice(i, i + TXN_OPS).map((op) =>
      op.value === undefined
        ? { request_delete_range: { key: b64(op.key) } }
        : {
            request_put: {
              key: b64(op.key),
              value: b64(op.value),
              ...(op.lease ? { lease: op.lease } : {}),
            },
          },
    );
    await retried(() =>
      etcdPost(nodeHttp, config.etcd, "/v3/kv/txn", { compare: [], success }, txnAnswer, 20_000),
    );
    writes += success.length;
  }
}

/** The records of one container, as a real host publishes them. */
function containerOps(
  h: SimHost,
  c: SimContainer,
  net: Net,
): { key: string; value: string; lease: string }[] {
  const ep: PublishedEndpoint = { mac: c.mac, ipv4: `${c.ip}/${net.bits}`, ipv6: "" };
  const owner = `c:${c.mac.replaceAll(":", "")}`;
  const entries: DnsRecordSet["entries"] = [
    { name: toZoneName(c.name, DOMAIN) ?? c.name, ipv4: [c.ip], ipv6: [], scope: c.network, member: true },
  ];
  return [
    {
      key: endpointKey(h.name, net.clusterId, c.mac.replaceAll(":", "")),
      value: JSON.stringify(ep),
      lease: h.lease,
    },
    { key: dnsKey(h.name, owner), value: JSON.stringify({ entries }), lease: h.lease },
  ];
}

function newContainer(
  h: SimHost,
  net: Net,
  ops: { key: string; value: string; lease: string }[],
): SimContainer {
  let block = h.blocks.get(net.name);
  if (!block || block.used >= 60) {
    block = { clusterId: net.clusterId, base: net.start + 64 * net.nextBlock++, used: 0 };
    h.blocks.set(net.name, block);
    const claim: BlockClaim = { host: h.name, createdAt: Date.now() };
    ops.push({
      key: blockKey(net.clusterId, `${ipOf(block.base)}/26`),
      value: JSON.stringify(claim),
      lease: "",
    });
  }
  const ip = ipOf(block.base + 2 + block.used++);
  const c: SimContainer = { host: h.name, network: net.name, mac: newMac(), ip, name: `s${macCounter}` };
  h.containers.set(c.mac, c);
  ops.push(...containerOps(h, c, net));
  return c;
}

async function addHost(index: number, nets: Net[]): Promise<SimHost> {
  const name = `sim${index}`;
  const lease = await store.grantLease(TTL_S);
  const address = ipOf(ipNum("10.250.0.0") + index + 1);
  const h: SimHost = {
    name,
    lease,
    address,
    containers: new Map(),
    blocks: new Map(),
    renewing: true,
    renewedAt: Date.now(),
  };
  const peer: PeerRecord = {
    name,
    address,
    vxlanPort: 4789,
    version: "sim",
    startedAt: Date.now(),
    seenAt: Date.now(),
  };
  const ops: { key: string; value: string; lease: string }[] = [
    { key: peerKey(name), value: JSON.stringify(peer), lease },
  ];
  for (let i = 0; i < config.perHost; i++) newContainer(h, nets[i % nets.length] as Net, ops);
  // Blocks are not under the lease: written before the records that use them.
  await txn(ops.filter((o) => o.lease === ""));
  await txn(ops.filter((o) => o.lease !== ""));
  return h;
}

async function networks(): Promise<Net[]> {
  const listed = await store.list(NETWORKS);
  const out: Net[] = [];
  for (const name of config.networks) {
    const rec = listed.items.map((kv) => parseClusterNetwork(kv.value)).find((n) => n?.name === name);
    const pool = rec?.ipv4[0]?.pool;
    if (!rec || !pool) throw new Error(`network "${name}" is not in the cluster store`);
    // The real host's blocks are at the start of the subnet: the simulation uses its upper half.
    const [base = "", bits = "32"] = pool.split("/");
    const size = 2 ** (32 - Number(bits));
    out.push({
      name,
      clusterId: rec.clusterId,
      start: ipNum(base) + size / 2,
      bits: Number(bits),
      nextBlock: 0,
    });
  }
  return out;
}

/** Resolves when the orchestrator writes "go" (the real host has programmed the population). */
function go(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("go")) resolve();
    });
  });
}

function renewLoop(hosts: Map<string, SimHost>): NodeJS.Timeout {
  // Each tick renews the hosts whose last renewal is RENEW_MS old: every live host once per
  // RENEW_MS, spread over the interval as the hosts were granted.
  const tickMs = 100;
  return setInterval(() => {
    const now = Date.now();
    for (const h of hosts.values()) {
      if (!h.renewing || now - h.renewedAt < RENEW_MS) continue;
      h.renewedAt = now;
      void store.keepAlive(h.lease).catch((err: unknown) => {
        process.stderr.write(`scale-sim: renewing ${h.name}'s lease failed: ${String(err)}\n`);
      });
    }
  }, tickMs);
}

async function main(): Promise<void> {
  const nets = await networks();
  const hosts = new Map<string, SimHost>();
  const t0 = Date.now();
  const renew = renewLoop(hosts);
  let index = 0;
  const queue: Promise<void>[] = [];
  while (index < config.hosts) {
    const i = index++;
    queue.push(addHost(i, nets).then((h) => void hosts.set(h.name, h)));
    if (queue.length >= 8) await Promise.all(queue.splice(0));
  }
  await Promise.all(queue);
  emit({
    kind: "populated",
    t: Date.now(),
    hosts: hosts.size,
    endpoints: hosts.size * config.perHost,
    ms: Date.now() - t0,
  });
  await go();
  const changes = await churn(hosts, nets, () => index++);
  emit({ kind: "done", t: Date.now(), changes, writes });
  // The hosts stay alive (renewed) until the orchestrator closes stdin: it still measures a restart.
  await new Promise((resolve) => process.stdin.once("end", resolve));
  clearInterval(renew);
}

/** Changes at config.changesPerS for config.seconds: 80 % containers, 20 % hosts (join or die), or
 * only containers without config.hostChurn. */
async function churn(hosts: Map<string, SimHost>, nets: Net[], nextIndex: () => number): Promise<number> {
  const total = Math.round(config.changesPerS * config.seconds);
  const start = Date.now();
  let netCursor = 0;
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / config.changesPerS;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const live = [...hosts.values()].filter((h) => h.renewing);
    const h = live[Math.floor(Math.random() * live.length)];
    if (!h) break;
    const kind = config.hostChurn !== false ? n % 10 : 0;
    if (kind === 8) {
      const joined = await addHost(nextIndex(), nets);
      hosts.set(joined.name, joined);
      emit({ kind: "join", t: Date.now(), host: joined.name, containers: [...joined.containers.values()] });
    } else if (kind === 9) {
      h.renewing = false; // its lease expires within TTL_S; etcd deletes its records then
      emit({ kind: "die", t: Date.now(), host: h.name, containers: [...h.containers.values()] });
    } else if (n % 2 === 0) {
      const net = nets[netCursor++ % nets.length] as Net;
      const ops: { key: string; value: string; lease: string }[] = [];
      const c = newContainer(h, net, ops);
      await txn(ops.filter((o) => o.lease === ""));
      const t = Date.now();
      await txn(ops.filter((o) => o.lease !== ""));
      emit({ kind: "add", t, c });
    } else {
      const c = [...h.containers.values()][Math.floor(Math.random() * h.containers.size)];
      if (!c) continue;
      h.containers.delete(c.mac);
      const net = nets.find((x) => x.name === c.network) as Net;
      const t = Date.now();
      await txn(containerOps(h, c, net).map(({ key }) => ({ key })));
      emit({ kind: "remove", t, c });
    }
  }
  return total;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`scale-sim: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
