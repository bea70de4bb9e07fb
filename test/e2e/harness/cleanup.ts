/**
 * Registry of everything the harness created and has not yet destroyed, so a test file can destroy all
 * of it in one `after` hook, and so a test process that exits or is interrupted without cleaning up
 * still removes its namespaces and stops its dockerds (synchronously, by exact name and PID).
 */

/** Something the harness made: destroyed normally with `destroy()`, or `destroySync()` at exit. */
export interface Resource {
  /** Hosts (0) are destroyed before the links and switches they use (1). */
  readonly cleanupPhase: 0 | 1;
  destroy(): Promise<void>;
  /** Best-effort, synchronous, for process exit: SIGKILL its processes, delete it by name. */
  destroySync(): void;
}

const live = new Set<Resource>();
let hooksInstalled = false;

/** Records a resource until it is destroyed. */
export function track(resource: Resource): void {
  live.add(resource);
  if (!hooksInstalled) {
    hooksInstalled = true;
    process.on("exit", destroyAllSync);
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      process.once(signal, () => {
        destroyAllSync();
        process.exit(code);
      });
    }
  }
}

/** Forgets a resource (called by its own destroy). */
export function untrack(resource: Resource): void {
  live.delete(resource);
}

/**
 * Destroys every live host and underlay, hosts first (in parallel), then the rest. Rejects with
 * an AggregateError listing what failed, after trying everything. May take up to a minute per host.
 */
export async function destroyAll(): Promise<void> {
  const all = [...live];
  const errors: unknown[] = [];
  for (const phase of [0, 1]) {
    const results = await Promise.allSettled(
      all.filter((r) => r.cleanupPhase === phase).map((r) => r.destroy()),
    );
    for (const r of results) if (r.status === "rejected") errors.push(r.reason);
  }
  if (errors.length > 0) throw new AggregateError(errors, "Cannot clean up all e2e hosts");
}

function destroyAllSync(): void {
  const all = [...live];
  live.clear();
  for (const r of all.sort((a, b) => a.cleanupPhase - b.cleanupPhase)) {
    try {
      r.destroySync();
    } catch {
      // Exiting: nothing more can be done here.
    }
  }
}
