/**
 * The pure query path: bytes of a query in, bytes of a response out (or "drop", or "forward
 * this"). No sockets, no clock; used by the UDP/TCP front ends and directly by the fuzz tests.
 *
 * Hot path, allocation-free apart from the reply: `scanQuery` → a 32-bit hash of the question's
 * wire octets with ASCII case folded → the encoded-response cache of the query's size bucket
 * (the entry's question is compared octet by octet, so a hash collision is just a miss) → copy
 * the cached bytes, patch ID, RD, CD and the question octets (answers point at the question, so
 * they take the asker's case too), shuffle the A/AAAA rdata in place. The caches are dropped
 * whenever the zone version changes.
 */
import {
  newQueryScan,
  type QueryScan,
  Rcode,
  readName,
  scanQuery,
  typeName,
  udpLimit,
  Flag,
} from "./codec.js";
import { encodeResponse, errorResponse, type ResponseSpec, truncateResponse } from "./encoder.js";
import { ALL_NETWORKS, type Zone, type ZoneResult, type ZoneView } from "./zone.js";

/** How a query ended, for metrics. NOTIMP and refused questions count as "refused". */
export type QueryOutcome =
  "answer" | "nxdomain" | "nodata" | "forwarded" | "servfail" | "refused" | "formerr";

/**
 * Metrics hook, called once per query. `count` is 1, except for batches reported by UDP worker
 * processes (see DnsServerOptions.udpWorkers), so counters should add `count`.
 */
export type QueryHook = (qtype: string, outcome: QueryOutcome, count: number) => void;

/** A question the zone does not own: forward `query` upstream and hand the reply to `forwarded`. */
export class ForwardRequest {
  constructor(
    readonly query: Buffer,
    readonly qtype: string,
    /** Largest response the client accepts (65,535 over TCP). */
    readonly limit: number,
    readonly questionEnd: number,
    /** Our OPT payload size when the query had OPT (for SERVFAIL), else undefined. */
    readonly ednsUdpSize: number | undefined,
  ) {}
}

/** Settings of a Responder. */
export interface ResponderOptions {
  zone: Zone;
  /** Random source in [0, 1) for shuffling cached answers; default Math.random. */
  random?: () => number;
  /** Largest UDP response we send with EDNS0 (and advertise in OPT); default 4096. */
  maxUdpSize?: number;
  /** Cached encodings per size bucket; default 10,000. */
  cacheEntries?: number;
  onQuery?: QueryHook;
}

interface CacheEntry {
  /** The view the answer was made for (ZoneView.id). */
  view: number;
  /** The question's wire octets (name, type, class), ASCII lower-cased. */
  question: Buffer;
  /** The complete response (TC=0); its answers are the shuffle source. */
  full: Buffer;
  questionEnd: number;
  /** Number of same-size A/AAAA answers to shuffle (0 = keep order), their stride and rdata. */
  shuffleCount: number;
  stride: number;
  rdOff: number;
  rdLen: number;
  /** When `full` exceeds the bucket's limit: the TC=1 version with `truncCount` answers. */
  trunc: Buffer | undefined;
  truncCount: number;
  qtype: string;
  outcome: QueryOutcome;
}

/** Size buckets: 0 TCP, 1 UDP without EDNS, 2–5 EDNS sizes rounded down. */
const BUCKET_LIMITS = [65_535, 512, 512, 1232, 2048, 4096];
const noop: QueryHook = () => undefined;

/** Answers queries from a Zone; synchronous and never throws on any input bytes. */
export class Responder {
  private readonly zone: Zone;
  private readonly random: () => number;
  private readonly maxUdp: number;
  private readonly maxEntries: number;
  private readonly hook: QueryHook;
  private readonly scan: QueryScan = newQueryScan();
  private readonly caches: Map<number, CacheEntry>[] = BUCKET_LIMITS.map(() => new Map<number, CacheEntry>());
  private cacheVersion = -1;
  private perm = new Uint16Array(64);

  constructor(options: ResponderOptions) {
    this.zone = options.zone;
    this.random = options.random ?? Math.random;
    this.maxUdp = Math.min(Math.max(options.maxUdpSize ?? 4096, 512), 65_535);
    this.maxEntries = options.cacheEntries ?? 10_000;
    this.hook = options.onQuery ?? noop;
  }

  /**
   * The response to `msg` received over UDP (`tcp` false) or TCP: bytes to send, null to send
   * nothing (not a query), or a ForwardRequest for names outside the zone. `source` is the
   * asker's address and `local` the address it asked at: together they choose the names it may
   * see (Zone.viewFor). Without them the answer sees every network (the host's view).
   */
  respond(msg: Buffer, tcp: boolean, source?: string, local?: string): Buffer | ForwardRequest | null {
    const view = source === undefined ? ALL_NETWORKS : this.zone.viewFor(source, local ?? "");
    return this.respondIn(msg, tcp, view);
  }

  /** `respond` through an explicit view. */
  respondIn(msg: Buffer, tcp: boolean, view: ZoneView): Buffer | ForwardRequest | null {
    const s = scanQuery(msg, this.scan);
    if (s.status !== "ok") return this.malformed(msg, s);
    if (s.edns && s.ednsVersion !== 0) {
      // BADVERS (16): upper 8 bits 1 in OPT, lower 4 bits 0 in the header (RFC 6891 §6.1.3).
      this.hook(typeName(s.qtype), "formerr", 1);
      const res = encodeResponse({
        id: msg.readUInt16BE(0),
        flags: Flag.QR | ((msg[2] as number) & 1 ? Flag.RD : 0) | Flag.RA,
        ednsUdpSize: this.maxUdp,
        extendedRcode: 1,
      });
      return res.bytes;
    }
    if (this.zone.version !== this.cacheVersion) {
      for (const c of this.caches) c.clear();
      this.cacheVersion = this.zone.version;
    }
    let bucket: number;
    if (tcp) bucket = 0;
    else if (!s.edns) bucket = 1;
    else {
      const size = udpLimit(s, this.maxUdp);
      bucket = size < 1232 ? 2 : size < 2048 ? 3 : size < 4096 ? 4 : 5;
    }
    const cache = this.caches[bucket] as Map<number, CacheEntry>;
    const key = (questionHash(msg, s.questionEnd) ^ Math.imul(view.id, 0x9e3779b1)) >>> 0;
    const hit = cache.get(key);
    if (hit !== undefined && hit.view === view.id && sameQuestion(hit.question, msg, s.questionEnd)) {
      this.hook(hit.qtype, hit.outcome, 1);
      return this.fromCache(hit, msg);
    }
    return this.miss(msg, s, bucket, key, view);
  }

  /** The reply to send for a forwarded query: the upstream's, cut to fit, or SERVFAIL when undefined. */
  forwarded(req: ForwardRequest, upstreamReply: Buffer | undefined): Buffer {
    if (upstreamReply === undefined) {
      this.hook(req.qtype, "servfail", 1);
      return errorResponse(req.query, Rcode.SERVFAIL, req.questionEnd, req.ednsUdpSize);
    }
    this.hook(req.qtype, "forwarded", 1);
    if (upstreamReply.length <= req.limit) return upstreamReply;
    // Too big for the client (only possible after our own TCP retry): an empty TC=1 reply.
    const out = errorResponse(
      req.query,
      (upstreamReply[3] as number) & 0xf,
      req.questionEnd,
      req.ednsUdpSize,
    );
    out[2] = (out[2] as number) | (Flag.TC >> 8);
    return out;
  }

  private malformed(msg: Buffer, s: QueryScan): Buffer | null {
    switch (s.status) {
      case "drop":
        this.hook("NONE", "formerr", 1);
        return null;
      case "notimp":
        this.hook("NONE", "refused", 1);
        return errorResponse(msg, Rcode.NOTIMP);
      case "formerr":
      case "ok":
        this.hook("NONE", "formerr", 1);
        return errorResponse(msg, Rcode.FORMERR);
    }
  }

  private fromCache(e: CacheEntry, msg: Buffer): Buffer {
    const src = e.trunc ?? e.full;
    const out = Buffer.allocUnsafe(src.length);
    src.copy(out, 0, 0, src.length);
    out[0] = msg[0] as number;
    out[1] = msg[1] as number;
    out[2] = ((out[2] as number) & 0xfe) | ((msg[2] as number) & 0x01);
    out[3] = ((out[3] as number) & 0xef) | ((msg[3] as number) & 0x10);
    for (let i = 12; i < e.questionEnd; i++) out[i] = msg[i] as number;
    const n = e.shuffleCount;
    if (n > 1) {
      const k = e.trunc === undefined ? n : e.truncCount;
      const perm = this.perm;
      for (let i = 0; i < n; i++) perm[i] = i;
      const base = e.questionEnd + e.rdOff;
      for (let i = 0; i < k; i++) {
        const j = i + Math.floor(this.random() * (n - i));
        const pick = perm[j] as number;
        perm[j] = perm[i] as number;
        perm[i] = pick;
        const from = base + pick * e.stride;
        e.full.copy(out, base + i * e.stride, from, from + e.rdLen);
      }
    }
    return out;
  }

  private miss(
    msg: Buffer,
    s: QueryScan,
    bucket: number,
    key: number,
    view: ZoneView,
  ): Buffer | ForwardRequest {
    const qname = readName(msg, 12)?.name ?? ".";
    const qtype = s.qtype;
    const qtypeName = typeName(qtype);
    const limit = bucket === 0 ? 65_535 : s.edns ? udpLimit(s, this.maxUdp) : 512;
    const ednsUdpSize = s.edns ? this.maxUdp : undefined;
    const result = this.zone.lookup(qname, qtype, s.qclass, view);
    if (result.kind === "notauth") {
      return new ForwardRequest(msg, qtypeName, limit, s.questionEnd, ednsUdpSize);
    }
    const rd = (msg[2] as number) & 0x01 ? Flag.RD : 0;
    const cd = (msg[3] as number) & 0x10 ? Flag.CD : 0;
    const spec: ResponseSpec = {
      id: msg.readUInt16BE(0),
      flags: Flag.QR | Flag.AA | Flag.RA | rd | cd | rcodeOf(result),
      question: { name: qname, type: qtype, class: s.qclass },
      answers: result.kind === "answer" ? result.answers : undefined,
      authority: result.kind === "refused" ? undefined : result.authority,
      ednsUdpSize,
    };
    if (result.kind === "refused") spec.flags &= ~Flag.AA;
    const enc = encodeResponse(spec);
    const entry = this.entryFor(enc, result, qtypeName, BUCKET_LIMITS[bucket] as number, view.id);
    const cache = this.caches[bucket] as Map<number, CacheEntry>;
    if (qtype !== 255) {
      if (cache.size >= this.maxEntries) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(key, entry);
    }
    this.hook(qtypeName, entry.outcome, 1);
    return entry.trunc === undefined ? enc.bytes : this.fromCache(entry, msg);
  }

  private entryFor(
    enc: ReturnType<typeof encodeResponse>,
    result: Exclude<ZoneResult, { kind: "notauth" }>,
    qtype: string,
    bucketLimit: number,
    view: number,
  ): CacheEntry {
    const n = enc.answerEnds.length;
    const first = result.kind === "answer" ? result.answers[0] : undefined;
    const rdLen = first?.type === "A" ? 4 : first?.type === "AAAA" ? 16 : 0;
    const stride = n > 0 ? (enc.answerEnds[0] as number) - enc.questionEnd : 0;
    let uniform =
      rdLen > 0 && n > 1 && result.kind === "answer" && result.answers.every((a) => a.type === first?.type);
    for (let i = 0; uniform && i < n; i++) uniform = enc.answerEnds[i] === enc.questionEnd + (i + 1) * stride;
    if (uniform && this.perm.length < n) this.perm = new Uint16Array(n);
    const question = Buffer.from(enc.bytes.subarray(12, enc.questionEnd));
    for (let i = 0; i < question.length; i++) {
      const c = question[i] as number;
      if (c >= 0x41 && c <= 0x5a) question[i] = c | 0x20;
    }
    const entry: CacheEntry = {
      view,
      question,
      full: enc.bytes,
      questionEnd: enc.questionEnd,
      shuffleCount: uniform ? n : 0,
      stride,
      rdOff: stride - rdLen,
      rdLen,
      trunc: undefined,
      truncCount: 0,
      qtype,
      outcome: result.kind === "answer" ? "answer" : result.kind,
    };
    const truncated = truncateResponse(enc, bucketLimit);
    if (truncated !== enc.bytes) {
      entry.trunc = truncated;
      entry.truncCount = truncated.readUInt16BE(6);
    }
    return entry;
  }
}

/**
 * FNV-1a (32-bit) of a query's question octets `msg[12..questionEnd)` with ASCII letters folded to
 * lower case: the response-cache key. Exported for tests.
 */
export function questionHash(msg: Uint8Array, questionEnd: number): number {
  let h = 0x811c9dc5;
  for (let i = 12; i < questionEnd; i++) {
    const c = msg[i] as number;
    h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c), 0x01000193);
  }
  return h;
}

/** True when `msg`'s question equals the lower-cased `question`, ignoring ASCII case. */
function sameQuestion(question: Buffer, msg: Buffer, questionEnd: number): boolean {
  const n = question.length;
  if (questionEnd - 12 !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = msg[12 + i] as number;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== question[i]) return false;
  }
  return true;
}

function rcodeOf(result: Exclude<ZoneResult, { kind: "notauth" }>): number {
  switch (result.kind) {
    case "answer":
    case "nodata":
      return Rcode.NOERROR;
    case "nxdomain":
      return Rcode.NXDOMAIN;
    case "refused":
      return Rcode.REFUSED;
  }
}
