/**
 * bench:state-check — what does the corruption check at start cost?
 *
 * Writes a state database with ENDPOINTS endpoints (default 10 000), each with its IPAM address, on
 * 100 networks, in a throwaway directory. Then, RUNS times each (default 20), on a fresh connection:
 *  - reference: open the file as weave does without any check (pragmas + user_version);
 *  - quick_check: the same, plus `PRAGMA quick_check` (checks every page, not the index contents);
 *  - integrity_check: the same, plus `PRAGMA integrity_check` (what weave runs at start: also
 *    compares every index with its table);
 *  - openSqliteState: weave's whole open (modes, check, migrations, write-lock probe, statements).
 * Prints medians and the ratio of each to the reference, and the file size.
 *
 * Usage: npm run bench:state-check [-- ENDPOINTS [RUNS]]
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { openSqliteState } from "../src/store/index.js";
import { quantile, ratio } from "./stats.js";

const ENDPOINTS = Number(process.argv[2] ?? 10_000);
const RUNS = Number(process.argv[3] ?? 20);

function fill(path: string): void {
  const s = openSqliteState(path);
  s.transaction(() => {
    for (let n = 0; n < 100; n++) {
      const id = n.toString(16).padStart(64, "0");
      const pool = `LocalDefault/10.${n}.0.0/16`;
      s.putNetwork({
        id,
        bridge: `weave-${id.slice(-9)}`,
        mtu: 1450,
        internal: false,
        ipv4: [{ AddressSpace: "LocalDefault", Pool: `10.${n}.0.0/16`, Gateway: `10.${n}.0.1/16` }],
        ipv6: [],
        options: {},
        createdAt: n,
      });
      s.putPool({
        id: pool,
        family: 4,
        pool: `10.${n}.0.0/16`,
        subPool: null,
        addressSpace: "LocalDefault",
        options: {},
        replayPending: false,
        createdAt: n,
      });
    }
    for (let i = 0; i < ENDPOINTS; i++) {
      const n = i % 100;
      const ip = `10.${n}.${Math.floor(i / 100 / 250)}.${2 + ((i / 100) % 250)}`;
      const hex = i.toString(16).padStart(64, "e");
      s.putEndpoint({
        id: hex,
        networkId: n.toString(16).padStart(64, "0"),
        hostIf: `vwe${hex.slice(-10)}`,
        peerIf: `vwp${hex.slice(-10)}`,
        mac: "02:42:0a:00:00:02",
        ipv4: `${ip}/16`,
        ipv6: null,
        sandboxKey: `/var/run/docker/netns/${hex.slice(-12)}`,
        createdAt: i,
      });
      s.putAddress({
        poolId: `LocalDefault/10.${n}.0.0/16`,
        address: ip,
        kind: "endpoint",
        replayPending: false,
        createdAt: i,
      });
    }
  });
  s.close();
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function plainOpen(path: string, check: string | undefined): void {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    if (check !== undefined) {
      const rows = db.pragma(check) as Record<string, string>[];
      if (Object.values(rows[0] ?? {})[0] !== "ok") throw new Error(`${check} failed on the bench database`);
    }
    db.pragma("user_version", { simple: true });
  } finally {
    db.close();
  }
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), "weave-bench-state-"));
  try {
    const path = join(dir, "weave.db");
    fill(path);
    const cases: [string, () => void][] = [
      ["reference (no check)", () => plainOpen(path, undefined)],
      ["quick_check", () => plainOpen(path, "quick_check")],
      ["integrity_check", () => plainOpen(path, "integrity_check")],
      ["openSqliteState", () => openSqliteState(path).close()],
    ];
    const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
    for (let i = 0; i < RUNS + 2; i++) {
      for (const [name, fn] of cases) {
        const ms = timed(fn);
        if (i >= 2) times.get(name)?.push(ms); // two warm-up rounds
      }
    }
    const ref = quantile(times.get(cases[0]?.[0] ?? "") ?? [], 0.5);
    const size = statSync(path).size;
    const db = new Database(path, { readonly: true });
    const pages = db.pragma("page_count", { simple: true }) as number;
    db.close();
    process.stdout.write(
      `state database: ${ENDPOINTS} endpoints, ${(size / 1024 / 1024).toFixed(1)} MiB, ${pages} pages; ${RUNS} runs\n`,
    );
    for (const [name] of cases) {
      const med = quantile(times.get(name) ?? [], 0.5);
      process.stdout.write(`${name.padEnd(22)} median ${med.toFixed(2)} ms  ratio ${ratio(med, ref)}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
