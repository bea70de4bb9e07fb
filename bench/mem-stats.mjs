/**
 * Preloaded into the weave daemon by bench:scale when WEAVE_BENCH_HEAPSNAPSHOT is set
 * (NODE_OPTIONS=--import): every 2 s it writes the process's memory as V8 and Node see it
 * (process.memoryUsage, the heap's spaces) to $WEAVE_MEM_STATS_DIR/mem-PID.json, so that the
 * heap snapshot can be set against the RSS. Plain JavaScript: the daemon runs without tsx.
 */
import { writeFileSync } from "node:fs";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";

const dir = process.env.WEAVE_MEM_STATS_DIR;
if (dir) {
  const write = () => {
    try {
      writeFileSync(
        `${dir}/mem-${process.pid}.json`,
        JSON.stringify({
          at: Date.now(),
          memoryUsage: process.memoryUsage(),
          heap: getHeapStatistics(),
          spaces: getHeapSpaceStatistics(),
        }),
      );
    } catch {
      // the directory went away: nothing to report
    }
  };
  setInterval(write, 2_000).unref();
}
