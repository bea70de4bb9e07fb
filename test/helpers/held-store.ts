/**
 * A cluster store whose calls can be held, to put a store round trip exactly where a test wants
 * another component to act. `hold` catches the next call of a method on one key (or prefix):
 *  - "before": the call reaches the store only when released (a request still on its way);
 *  - "after": the call reaches the store at once and its answer is delivered when released (a
 *    listing taken now, read later).
 */
import type { ClusterStore } from "../../src/store/index.js";

export interface Held {
  /** Resolves when the call was made. */
  reached: Promise<void>;
  release(): void;
}

interface Pending {
  method: string;
  key: string;
  when: "before" | "after";
  released: Promise<void>;
  hit: () => void;
}

export function holdableStore(inner: ClusterStore): {
  store: ClusterStore;
  hold: (method: keyof ClusterStore, key: string, when: "before" | "after") => Held;
} {
  const pending: Pending[] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        const call = () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        const i = pending.findIndex((p) => p.method === prop && p.key === args[0]);
        const caught = i >= 0 ? pending.splice(i, 1)[0] : undefined;
        if (!caught) return call();
        caught.hit();
        if (caught.when === "before") return caught.released.then(call);
        const answer = call();
        return caught.released.then(() => answer);
      };
    },
  });
  const hold = (method: keyof ClusterStore, key: string, when: "before" | "after"): Held => {
    let hit = (): void => undefined;
    let release = (): void => undefined;
    const reached = new Promise<void>((resolve) => (hit = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    pending.push({ method, key, when, released, hit });
    return { reached, release };
  };
  return { store, hold };
}
