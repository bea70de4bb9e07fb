/**
 * String interning: equal strings read from many records (a host's name in each of its 100
 * endpoints, a network's 64-character cluster ID in each of its 10,000) become one string, held
 * once however many records refer to it. JSON.parse and String.split make a new string every time.
 *
 * The pool is bounded: past `limit` distinct strings it starts again empty (records keep the
 * strings they have; only the sharing of later ones with earlier ones is lost), so a stream of
 * names that never repeat costs at most `limit` entries.
 */
export class Interner {
  private readonly pool = new Map<string, string>();

  /** @param limit The most distinct strings kept (default 65,536). */
  constructor(private readonly limit = 65_536) {}

  /** The pooled string equal to `s` (s itself when it is the first of its value). */
  intern(s: string): string {
    const pooled = this.pool.get(s);
    if (pooled !== undefined) return pooled;
    if (this.pool.size >= this.limit) this.pool.clear();
    this.pool.set(s, s);
    return s;
  }

  /** How many distinct strings the pool holds. */
  get size(): number {
    return this.pool.size;
  }
}
