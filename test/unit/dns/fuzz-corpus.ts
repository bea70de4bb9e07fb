/**
 * Deterministic generator of hostile DNS packets for the fuzz tests (unit and integration):
 * random bytes, and valid queries mutated by bit flips, truncation, bogus counts and lengths,
 * bad label types, compression-pointer loops and junk OPT records.
 */
import { encodeQuery } from "../../../src/dns/index.js";

/** mulberry32: a small seeded PRNG returning [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = [
  "db.weave.local.",
  "WEB.weave.local.",
  "x.y.weave.local.",
  "db.",
  "example.com.",
  "1.0.32.10.in-addr.arpa.",
];
const TYPES = [1, 28, 12, 6, 255, 15, 252, 41, 0, 65535];

/** A packet generator; `next()` returns a fresh Buffer each call. */
export class FuzzCorpus {
  private readonly r: () => number;

  constructor(seed: number) {
    this.r = prng(seed);
  }

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** A valid query with a random known or random name. */
  valid(): Buffer {
    const name = this.r() < 0.7 ? this.pick(NAMES) : this.randomName();
    const opts =
      this.r() < 0.5
        ? { id: this.int(65536), ednsUdpSize: this.int(70000) & 0xffff }
        : { id: this.int(65536) };
    return encodeQuery(name, this.pick(TYPES), opts);
  }

  private randomName(): string {
    const labels: string[] = [];
    const n = 1 + this.int(5);
    for (let i = 0; i < n; i++) {
      let l = "";
      const len = 1 + this.int(20);
      for (let j = 0; j < len; j++) l += String.fromCharCode(97 + this.int(26));
      labels.push(l);
    }
    return labels.join(".") + ".";
  }

  /** The next hostile packet. */
  next(): Buffer {
    const kind = this.int(10);
    if (kind === 0) {
      const b = Buffer.allocUnsafe(this.int(600));
      for (let i = 0; i < b.length; i++) b[i] = this.int(256);
      return b;
    }
    const q = this.valid();
    switch (kind) {
      case 1: // bit flips
        for (let i = 0, n = 1 + this.int(8); i < n; i++) {
          const at = this.int(q.length);
          q[at] = (q[at] as number) ^ (1 << this.int(8));
        }
        return q;
      case 2: // truncation
        return q.subarray(0, this.int(q.length));
      case 3: // count fields
        q.writeUInt16BE(this.pick([0, 1, 2, 26734, 65535, this.int(65536)]), 4 + 2 * this.int(4));
        return q;
      case 4: {
        // label length / type bytes
        const at = 12 + this.int(Math.max(1, q.length - 12));
        q[at] = this.pick([0x3f, 0x40, 0x80, 0xc0, 0xff, this.int(256)]);
        return q;
      }
      case 5: {
        // compression pointer loop in the question, or a pointer into itself
        const at = 12 + this.int(Math.max(1, q.length - 14));
        q.writeUInt16BE(0xc000 | this.pick([12, at, at + 2, this.int(0x4000)]), at);
        return q;
      }
      case 6: {
        // a record with a self-pointing name and a huge rdlength in the additional section
        const extra = Buffer.from([0xc0, 0x00, 0, 41, 0x10, 0, 0, 0, 0, 0, 0xff, 0xff]);
        extra.writeUInt16BE(0xc000 | q.length, 0);
        q.writeUInt16BE(1 + this.int(3), 10);
        return Buffer.concat([q, extra]);
      }
      case 7: // QR / opcode / flag bits
        q[2] = this.int(256);
        q[3] = this.int(256);
        return q;
      case 8: {
        // overlong name: 5 labels of 63
        const label = Buffer.alloc(64, 0x61);
        label[0] = 63;
        const head = q.subarray(0, 12);
        head.writeUInt16BE(1, 4);
        return Buffer.concat([head, label, label, label, label, label, Buffer.from([0, 0, 1, 0, 1])]);
      }
      default: // garbage appended
        return Buffer.concat([q, Buffer.alloc(this.int(100), this.int(256))]);
    }
  }
}
