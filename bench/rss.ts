/**
 * bench:rss: the memory of weave on real hosts, run the way a user runs it.
 *
 *   npm run bench:rss -- HOSTS CONTAINERS_PER_HOST
 *   (defaults 3 100; needs root, dockerd, etcd and busybox-static: scripts/test.sh installs them;
 *   run `npm run build` first, the hosts run bin/weave)
 *
 * Starts HOSTS test-harness hosts (each its own network namespace and dockerd) on one underlay with
 * one etcd, runs `weave launch --store etcd://...` on each, creates one weave network on the first
 * host and starts CONTAINERS_PER_HOST busybox containers (`sleep 3600`) per host on it, in parallel
 * batches. Once every host's FDB holds the other hosts' containers, it prints for each host the RSS
 * of the weave daemon with its DNS workers (the process trees of the PID files in the host's
 * /run/weave; the DNS workers start only under query load, so here it is mostly the daemon alone),
 * again after 30 s idle, and the totals. The reference is the same daemon measured idle,
 * after launch and before any container starts, so growth is printed per endpoint of the cluster.
 * Everything it made (hosts, etcd, underlay) is removed at the end, also on failure.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  createHost,
  createUnderlay,
  destroyAll,
  findExecutable,
  startEtcd,
  TEST_IMAGE,
  type Host,
} from "../test/e2e/harness/index.js";
import { kernelEntries, processTree } from "./scale-host.js";

const [HOSTS = 3, PER_HOST = 100] = process.argv.slice(2).map((a) => Number.parseInt(a, 10));
const NETWORK = "rss";
const BATCH = 10;
const IDLE_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const signed = (s: string) => (s.startsWith("-") ? s : `+${s}`);

async function docker(host: Host, args: string[], timeoutMs = 120_000): Promise<string> {
  const res = await host.docker(args, { timeoutMs });
  if (res.code !== 0) throw new Error(`docker ${args.join(" ")} on ${host.name}: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

/** RSS in bytes of the weave daemon(s) named by the host's /run/weave/*.pid, children included. */
function rss(host: Host): { rss: number; pids: number; rssByName: Record<string, number> } {
  const dir = host.rootPath("/run/weave");
  const roots = readdirSync(dir)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => Number.parseInt(readFileSync(join(dir, f), "utf8"), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
  const usage = processTree(roots);
  return { rss: usage.rss, pids: usage.pids, rssByName: usage.rssByName };
}

/** Polls until `check` is true; throws `what` after `limitMs`. */
async function until(what: string, limitMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`);
    await sleep(500);
  }
}

/** Starts PER_HOST sleepers on `host`, BATCH at a time. */
async function startContainers(host: Host, index: number): Promise<void> {
  for (let i = 0; i < PER_HOST; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, PER_HOST - i) }, (_, j) => i + j);
    await Promise.all(
      batch.map((n) =>
        docker(host, [
          "run",
          "-d",
          "--net",
          NETWORK,
          "--name",
          `rss-${index}-${n}`,
          TEST_IMAGE,
          "sleep",
          "3600",
        ]),
      ),
    );
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench:rss needs root (it starts its own dockerd and etcd)");
  const missing = ["etcd", "dockerd", "busybox", "bridge"].filter((b) => !findExecutable(b));
  if (missing.length > 0)
    throw new Error(`bench:rss needs ${missing.join(", ")} (scripts/test.sh installs them)`);
  const t0 = Date.now();
  const underlay = await createUnderlay();
  const etcd = await startEtcd(underlay);
  const hosts: Host[] = [];
  for (let i = 0; i < HOSTS; i++) {
    const host = await createHost({ name: `rss${i + 1}` });
    await underlay.attach(host);
    await host.loadTestImage();
    hosts.push(host);
  }
  await Promise.all(
    hosts.map(async (h) => {
      const args = ["launch", "--store", etcd.url, "--advertise-addr", h.address, "--name", h.name];
      const res = await h.weave(args, { timeoutMs: 120_000 });
      if (res.code !== 0) throw new Error(`weave launch on ${h.name}: ${res.stderr.trim()}`);
    }),
  );
  const [first] = hosts;
  if (first === undefined) throw new Error("bench:rss needs at least one host");
  const args = ["network", "create", "-d", "weave", "--ipam-driver", "weave", "--subnet", "10.40.0.0/16"];
  await docker(first, [...args, NETWORK]);
  for (const h of hosts)
    await until(`network ${NETWORK} on ${h.name}`, 60_000, async () => {
      return (await h.docker(["network", "inspect", NETWORK])).code === 0;
    });
  await sleep(5_000); // let the daemons settle after launch before the reference sample
  const idle = hosts.map(rss);
  console.log(
    `bench:rss: ${HOSTS} hosts x ${PER_HOST} containers on one weave network (set up in ${Date.now() - t0} ms)`,
  );
  console.log(
    `  one idle host, before any container: ${mb(idle[0]?.rss ?? 0)} MB (${idle[0]?.pids} processes)`,
  );

  const t1 = Date.now();
  await Promise.all(hosts.map((h, i) => startContainers(h, i)));
  const startedMs = Date.now() - t1;
  const want = (HOSTS - 1) * PER_HOST;
  await Promise.all(
    hosts.map((h) =>
      until(`${want} remote FDB entries on ${h.name}`, 600_000, async () => {
        return (await kernelEntries(h.name)).fdb >= want;
      }),
    ),
  );
  console.log(
    `  ${HOSTS * PER_HOST} containers started in ${startedMs} ms; every FDB holds its ${want} remote ` +
      `entries ${Date.now() - t1 - startedMs} ms later`,
  );
  const synced = hosts.map(rss);
  await sleep(IDLE_MS);
  const later = hosts.map(rss);

  const endpoints = HOSTS * PER_HOST;
  const sum = (xs: { rss: number }[]) => xs.reduce((s, x) => s + x.rss, 0);
  for (const [i, h] of hosts.entries()) {
    const a = synced[i]?.rss ?? 0;
    const b = later[i]?.rss ?? 0;
    const base = idle[i]?.rss ?? 0;
    console.log(
      `  ${h.name} (${later[i]?.pids} processes): idle ${mb(base)} MB, synced ${mb(a)} MB, ` +
        `${IDLE_MS / 1000} s later ${mb(b)} MB (${signed(mb(b - base))} MB, ` +
        `${signed(((b - base) / 1024 / endpoints).toFixed(1))} KB per cluster endpoint; ` +
        `${Object.entries(later[i]?.rssByName ?? {})
          .map(([name, bytes]) => `${name} ${mb(bytes)} MB`)
          .join(", ")})`,
    );
  }
  console.log(
    `  total over ${HOSTS} hosts: idle ${mb(sum(idle))} MB, synced ${mb(sum(synced))} MB, ` +
      `${IDLE_MS / 1000} s later ${mb(sum(later))} MB`,
  );
}

let failed = false;
try {
  await main();
} catch (err: unknown) {
  failed = true;
  console.error(`bench:rss: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await destroyAll().catch((err: unknown) => {
    failed = true;
    console.error(`bench:rss: cleanup: ${err instanceof Error ? err.message : String(err)}`);
  });
}
process.exit(failed ? 1 : 0);
