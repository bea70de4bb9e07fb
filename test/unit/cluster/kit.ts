/**
 * Test helpers for the cluster parts: a store that can be cut off and a logger that keeps its lines
 * (the records of one cluster network are in test/helpers/cluster.ts).
 */
import { TransportSync } from "../../../src/cluster/transport-sync.js";
import type { TransportSyncOptions } from "../../../src/cluster/transport-sync.js";
import type { TransportPass } from "../../../src/cluster/transports/transport.js";
import type { Clock, Logger, LogLevel } from "../../../src/core/index.js";
import { createLogger, WeaveError } from "../../../src/core/index.js";
import type { ClusterStore, KeyValue, PutOptions, Watch, WatchEvent } from "../../../src/store/index.js";
import type { MemoryClusterStore } from "../../../src/store/index.js";

/**
 * A MemoryClusterStore that can be made unreachable, as etcd is when the network breaks: while
 * `down`, every call fails with WEAVE_TIMEOUT, and `cut()` also breaks every open watch.
 */
export class FlakyStore implements ClusterStore {
  down = false;
  /** Every call, as "method key". */
  readonly calls: string[] = [];
  private readonly watches = new Set<{ inner: Watch; onError: (err: Error) => void }>();

  constructor(readonly inner: MemoryClusterStore) {}

  /** Makes the store unreachable and breaks the watches. */
  cut(): void {
    this.down = true;
    for (const w of [...this.watches]) {
      w.inner.close();
      this.watches.delete(w);
      w.onError(new WeaveError("WEAVE_TIMEOUT", "Watch broke: store unreachable"));
    }
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.call(`get ${key}`, () => this.inner.get(key));
  }
  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    return this.call(`list ${prefix}`, () => this.inner.list(prefix));
  }
  put(key: string, value: string, options?: PutOptions): Promise<number> {
    return this.call(`put ${key}`, () => this.inner.put(key, value, options));
  }
  delete(key: string): Promise<boolean> {
    return this.call(`delete ${key}`, () => this.inner.delete(key));
  }
  create(key: string, value: string, options?: PutOptions): Promise<boolean> {
    return this.call(`create ${key}`, () => this.inner.create(key, value, options));
  }
  compareAndSwap(key: string, modRevision: number, value: string, options?: PutOptions): Promise<boolean> {
    return this.call(`compareAndSwap ${key}`, () =>
      this.inner.compareAndSwap(key, modRevision, value, options),
    );
  }
  compareAndDelete(key: string, modRevision: number): Promise<boolean> {
    return this.call(`compareAndDelete ${key}`, () => this.inner.compareAndDelete(key, modRevision));
  }
  grantLease(ttlSeconds: number): Promise<string> {
    return this.call("grantLease", () => this.inner.grantLease(ttlSeconds));
  }
  keepAlive(lease: string): Promise<number> {
    return this.call(`keepAlive ${lease}`, () => this.inner.keepAlive(lease));
  }
  revokeLease(lease: string): Promise<void> {
    return this.call(`revokeLease ${lease}`, () => this.inner.revokeLease(lease));
  }
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): Watch {
    this.calls.push(`watch ${prefix}`);
    const ended = (err: Error) => {
      this.watches.delete(w);
      onError(err);
    };
    const w = { inner: this.inner.watch(prefix, fromRevision, onEvent, ended), onError };
    this.watches.add(w);
    return {
      close: () => {
        w.inner.close();
        this.watches.delete(w);
      },
    };
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Calls made so far whose text starts with `prefix`. */
  count(prefix: string): number {
    return this.calls.filter((c) => c.startsWith(prefix)).length;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.calls.push(what);
    if (this.down) throw new WeaveError("WEAVE_TIMEOUT", `Cannot reach the store (${what})`);
    return fn();
  }
}

export interface LogLine {
  level: LogLevel;
  msg: string;
  [field: string]: unknown;
}

/** A debug-level logger that keeps every line, parsed. */
export function captureLogger(): {
  logger: Logger;
  lines: LogLine[];
  messages: (level?: LogLevel) => string[];
} {
  const lines: LogLine[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => lines.push(JSON.parse(line) as LogLine) });
  const messages = (level?: LogLevel) => lines.filter((l) => !level || l.level === level).map((l) => l.msg);
  return { logger, lines, messages };
}

/**
 * A TransportSync (VXLAN paths, no tunnel) over one transport that calls `seen` with each pass and
 * programs nothing; `o` gives the cluster's records (and the endpoint lookup, for slice passes).
 */
export function probeSync(
  clock: Clock,
  seen: (pass: TransportPass) => void,
  o: Pick<TransportSyncOptions, "inputs" | "endpoint">,
): TransportSync {
  return new TransportSync({
    transports: [
      {
        name: "probe",
        apply: async (_input, pass) => {
          seen(pass);
          return { applied: [] };
        },
      },
    ],
    local: "192.168.1.1",
    paths: () => ({ mode: "vxlan", attached: [], underlayMtu: 1400 }),
    tunnel: () => undefined,
    logger: captureLogger().logger,
    clock,
    ...o,
  });
}
