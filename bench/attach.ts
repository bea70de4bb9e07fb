/**
 * bench:attach — how much does weave add to a container start?
 *
 * In one throwaway Docker host (see test/e2e/harness), with weave launched as a user would:
 *  1. `docker run --rm IMAGE true` on a weave network and on a network of Docker's built-in bridge
 *     driver, interleaved (weave, bridge, weave, ...), RUNS times each (default 30): median and p90;
 *  2. 50 concurrent `docker run --rm` on each network (CONCURRENT), one batch after the other:
 *     wall time and failures.
 * It prints the ratios weave/bridge. Target: ≤ 1.10 and zero failures.
 *
 * Usage: sudo npm run bench:attach [-- RUNS [CONCURRENT]]
 */
import { performance } from "node:perf_hooks";
import { createHost, type Host, TEST_IMAGE } from "../test/e2e/harness/index.js";
import { fmtMs, quantile, ratio } from "./stats.js";

const RUNS = Number(process.argv[2] ?? 30);
const CONCURRENT = Number(process.argv[3] ?? 50);
const TARGET = 1.1;

async function timedRun(host: Host, net: string): Promise<{ ms: number; ok: boolean; err: string }> {
  const t0 = performance.now();
  const res = await host.docker(["run", "--rm", `--net=${net}`, TEST_IMAGE, "true"], { timeoutMs: 180_000 });
  return { ms: performance.now() - t0, ok: res.code === 0, err: res.stderr.trim() };
}

async function concurrent(
  host: Host,
  net: string,
  n: number,
): Promise<{ wallMs: number; failures: string[] }> {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, () => timedRun(host, net)));
  return { wallMs: performance.now() - t0, failures: results.filter((r) => !r.ok).map((r) => r.err) };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench:attach needs root (it starts its own dockerd)");
  const host = await createHost({ name: "bench" });
  try {
    await host.loadTestImage();
    const launch = await host.weave(["launch"]);
    if (launch.code !== 0) throw new Error(`weave launch failed: ${launch.stderr}`);
    for (const args of [
      ["network", "create", "-d", "weave", "--ipam-driver", "weave", "benchw"],
      ["network", "create", "-d", "bridge", "benchb"],
    ]) {
      const r = await host.docker(args);
      if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr}`);
    }
    const nets = { weave: "benchw", bridge: "benchb" } as const;
    for (let i = 0; i < 3; i++) for (const net of Object.values(nets)) await timedRun(host, net); // warm-up

    const times = { weave: [] as number[], bridge: [] as number[] };
    const failures = { weave: [] as string[], bridge: [] as string[] };
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? (["weave", "bridge"] as const) : (["bridge", "weave"] as const);
      for (const kind of order) {
        const r = await timedRun(host, nets[kind]);
        if (r.ok) times[kind].push(r.ms);
        else failures[kind].push(r.err);
      }
    }
    const batch = {
      bridge: await concurrent(host, nets.bridge, CONCURRENT),
      weave: await concurrent(host, nets.weave, CONCURRENT),
    };

    const row = (kind: "weave" | "bridge") =>
      `  ${kind.padEnd(7)} median ${fmtMs(quantile(times[kind], 0.5)).padStart(7)}  p90 ${fmtMs(quantile(times[kind], 0.9)).padStart(7)}` +
      `  failures ${failures[kind].length}   ${CONCURRENT} concurrent: wall ${fmtMs(batch[kind].wallMs).padStart(8)}, failures ${batch[kind].failures.length}`;
    const medianRatio = quantile(times.weave, 0.5) / quantile(times.bridge, 0.5);
    const p90Ratio = quantile(times.weave, 0.9) / quantile(times.bridge, 0.9);
    const wallRatio = batch.weave.wallMs / batch.bridge.wallMs;
    const totalFailures =
      failures.weave.length +
      failures.bridge.length +
      batch.weave.failures.length +
      batch.bridge.failures.length;
    console.log(`bench:attach: docker run --rm ${TEST_IMAGE} true, ${RUNS} interleaved runs each`);
    console.log(row("weave"));
    console.log(row("bridge"));
    console.log(
      `  ratio weave/bridge: median ${ratio(quantile(times.weave, 0.5), quantile(times.bridge, 0.5))}, p90 ${p90Ratio.toFixed(3)}, concurrent wall ${wallRatio.toFixed(3)}`,
    );
    for (const f of [...failures.weave, ...batch.weave.failures].slice(0, 5))
      console.log(`  weave failure: ${f}`);
    for (const f of [...failures.bridge, ...batch.bridge.failures].slice(0, 5))
      console.log(`  bridge failure: ${f}`);
    const met = medianRatio <= TARGET && p90Ratio <= TARGET && wallRatio <= TARGET && totalFailures === 0;
    console.log(`  target (ratios <= ${TARGET}, zero failures): ${met ? "met" : "NOT met"}`);
  } finally {
    await host.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(`bench:attach: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
