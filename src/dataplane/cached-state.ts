/**
 * A port's memory of the kernel state it owns, and the observe-plan-apply loop over it, so that a
 * pass between periodic ones costs work proportional to the change, not to the cluster: reading
 * 100,000 FDB and neighbour entries back from the kernel on every change would dominate it.
 *
 * Design note: the state is read for real the first time, when the pass asks for it (`full`: the
 * periodic pass, which repairs what changed behind weave's back), after any failure (a failed
 * apply may have applied part of its operations; a failed read leaves nothing), and when the pass's
 * scope differs from the last one's. The scope names what the state hangs on that other components
 * own (the bridges, the WireGuard device): a device deleted and made again takes its entries along.
 * Otherwise the state last read, with every operation applied since folded in by a function
 * that follows the kernel's semantics, stands for the kernel's.
 */
/**
 * The state last read plus the operations applied since. `fold` applies operations; it may update
 * the state in place and return it (the cache owns the state: the overlay's indexed model is folded
 * in work proportional to the operations, see overlay-state.ts).
 */
export class CachedState<State, Op> {
  private state: State | undefined;
  private scope: string | undefined;
  /** How many times the state was read for real. */
  reads = 0;

  constructor(private readonly fold: (state: State, ops: readonly Op[]) => State) {}

  /** The remembered state, if any (undefined after a failure or before the first read). */
  get current(): State | undefined {
    return this.state;
  }

  /**
   * The state: the remembered one, unless `fresh` is asked, nothing is remembered or `scope`
   * differs from the last read's; then `read()` (whose rejection propagates, remembering nothing).
   */
  async get(read: () => Promise<State>, o: { fresh: boolean; scope: string }): Promise<State> {
    if (!o.fresh && this.state !== undefined && this.scope === o.scope) return this.state;
    this.state = undefined;
    const state = await read();
    this.state = state;
    this.scope = o.scope;
    this.reads++;
    return state;
  }

  /** Folds operations that were applied without error into the remembered state. */
  applied(ops: readonly Op[]): void {
    if (this.state !== undefined && ops.length > 0) this.state = this.fold(this.state, ops);
  }

  /** Forgets the state: the next get reads it for real. */
  forget(): void {
    this.state = undefined;
  }
}

export interface ConvergeSteps<State, Op> {
  observe: () => Promise<State>;
  plan: (observed: State) => Op[];
  apply: (ops: Op[]) => Promise<string[]>;
  describe: (op: Op) => string;
  /** Told of the error of a first apply that is retried. */
  onRetry: (err: unknown) => void;
  /** Remembers the state between passes; without it every pass observes for real. */
  cache?: CachedState<State, Op> | undefined;
  /** Observe for real even when the cache remembers the state (default true). */
  full?: boolean | undefined;
  /** See CachedState: a scope unlike the last read's makes the pass observe for real. */
  scope?: string | undefined;
}

/**
 * Observes (through the cache, see CachedState), plans and applies; when applying fails, observes
 * for real and plans once more and applies that, or reports the first plan as done when nothing is
 * left to do. Returns the descriptions of the operations applied; rejects with what observe or the
 * second apply throws (the cache then remembers nothing).
 */
export async function converge<State, Op>(steps: ConvergeSteps<State, Op>): Promise<string[]> {
  const { cache } = steps;
  const observe = (fresh: boolean): Promise<State> =>
    cache ? cache.get(steps.observe, { fresh, scope: steps.scope ?? "" }) : steps.observe();
  const apply = async (ops: Op[]): Promise<string[]> => {
    try {
      const done = await steps.apply(ops);
      cache?.applied(ops);
      return done;
    } catch (err) {
      cache?.forget();
      throw err;
    }
  };
  const ops = steps.plan(await observe(steps.full ?? true));
  if (ops.length === 0) return [];
  try {
    return await apply(ops);
  } catch (err) {
    const retry = steps.plan(await observe(true));
    if (retry.length === 0) return ops.map(steps.describe);
    steps.onRetry(err);
    return await apply(retry);
  }
}

/** The most lines one `ip -batch -` / `bridge -batch -` run gets (and arguments one `sysctl -w`). */
export const BATCH_LINES = 5_000;

/**
 * Splits `ops` into runs whose rendered lines number at most `maxLines` (an operation's lines stay
 * together; one with more lines than that is a run of its own). Pure.
 */
export function chunkOps<Op>(ops: readonly Op[], render: (op: Op) => string[], maxLines: number): Op[][] {
  const chunks: Op[][] = [];
  let chunk: Op[] = [];
  let lines = 0;
  for (const op of ops) {
    const n = render(op).length;
    if (chunk.length > 0 && lines + n > maxLines) {
      chunks.push(chunk);
      chunk = [];
      lines = 0;
    }
    chunk.push(op);
    lines += n;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
