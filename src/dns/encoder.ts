/**
 * DNS wire format, encoding side: responses with name compression (RFC 1035 §4.1.4) and
 * truncation to whole records. Names are matched case-insensitively for compression, so an
 * answer's owner is a 2-octet pointer to the question and renders in the question's case.
 */
import { Flag, HEADER_SIZE, type Question, RRType } from "./codec.js";
import { parseIpv4, parseIpv6 } from "./ip.js";

/** A record weaveDNS can put in a response. Names are absolute presentation names. */
export type ResourceRecord =
  | { type: "A"; name: string; ttl: number; address: string }
  | { type: "AAAA"; name: string; ttl: number; address: string }
  | { type: "PTR"; name: string; ttl: number; target: string }
  | {
      type: "SOA";
      name: string;
      ttl: number;
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

/** What to encode. `flags` carries QR/AA/TC/RD/RA/CD and the rcode in its low 4 bits. */
export interface ResponseSpec {
  id: number;
  flags: number;
  question?: Question | undefined;
  answers?: readonly ResourceRecord[] | undefined;
  authority?: readonly ResourceRecord[] | undefined;
  /** When set, an OPT record advertising this UDP payload size ends the additional section. */
  ednsUdpSize?: number | undefined;
  /** Upper 8 bits of a 12-bit rcode (EDNS), e.g. 1 for BADVERS. Needs `ednsUdpSize`. */
  extendedRcode?: number | undefined;
}

/** An encoded message plus the layout that truncation and answer shuffling need. */
export interface EncodedResponse {
  bytes: Buffer;
  /** Offset just after the question section. */
  questionEnd: number;
  /** Offset just after each answer record, in order. */
  answerEnds: number[];
  /** True when an OPT record (11 octets, no options) ends the message. */
  hasOpt: boolean;
  /** True when records had to be left out because the message would exceed 65,535 octets. */
  overflowed: boolean;
}

const MAX_MESSAGE = 65_535;
const OPT_SIZE = 11;
const scratch = Buffer.allocUnsafe(MAX_MESSAGE);

/** Splits an absolute or relative presentation name into labels, honouring `\.` and `\DDD` escapes. */
function splitLabels(name: string): string[] {
  if (name === "." || name === "") return [];
  if (!name.includes("\\")) {
    const labels = name.split(".");
    if (labels[labels.length - 1] === "") labels.pop();
    return labels;
  }
  const labels: string[] = [];
  let cur = "";
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    if (c === "\\") {
      const digits = name.slice(i + 1, i + 4);
      const skip = /^[0-9]{3}$/.test(digits) ? 3 : 1;
      cur += name.slice(i, i + 1 + skip);
      i += skip;
    } else if (c === ".") {
      labels.push(cur);
      cur = "";
    } else cur += c;
  }
  if (cur !== "") labels.push(cur);
  return labels;
}

/** Wire octets of one presentation label (escapes decoded). */
function labelBytes(label: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (c === 0x5c) {
      const digits = label.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(digits)) {
        out.push(Number(digits) & 0xff);
        i += 3;
      } else {
        out.push(label.charCodeAt(i + 1) & 0xff);
        i += 1;
      }
    } else out.push(c & 0xff);
  }
  return out;
}

class Writer {
  off = HEADER_SIZE;
  private readonly names = new Map<string, number>();

  u16(v: number): void {
    scratch[this.off++] = (v >> 8) & 0xff;
    scratch[this.off++] = v & 0xff;
  }

  u32(v: number): void {
    scratch.writeUInt32BE(v >>> 0, this.off);
    this.off += 4;
  }

  bytes(b: Uint8Array): void {
    scratch.set(b, this.off);
    this.off += b.length;
  }

  /** Writes a name, compressing against earlier names when `compress` (false in the question). */
  name(name: string, compress: boolean): void {
    const labels = splitLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).join(".").toLowerCase();
      const at = compress ? this.names.get(key) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.off < 0x4000 && !this.names.has(key)) this.names.set(key, this.off);
      const b = labelBytes(labels[i] as string);
      if (b.length === 0 || b.length > 63) throw new RangeError(`Invalid label in name "${name}"`);
      scratch[this.off++] = b.length;
      for (const x of b) scratch[this.off++] = x;
    }
    scratch[this.off++] = 0;
  }

  /**
   * Writes `records` in order while the message surely stays under 64 KiB (with room left for an
   * OPT record), pushing the offset after each one onto `ends`; returns how many were written.
   */
  records(records: readonly ResourceRecord[], ends: number[] = []): number {
    let written = 0;
    for (const rr of records) {
      if (this.off + MAX_RECORD > MAX_MESSAGE - OPT_SIZE) break;
      this.record(rr);
      ends.push(this.off);
      written++;
    }
    return written;
  }

  record(rr: ResourceRecord): void {
    this.name(rr.name, true);
    this.u16(RRType[rr.type]);
    this.u16(1);
    this.u32(rr.ttl);
    const lenAt = this.off;
    this.off += 2;
    switch (rr.type) {
      case "A":
      case "AAAA": {
        const ip = rr.type === "A" ? parseIpv4(rr.address) : parseIpv6(rr.address);
        if (!ip) throw new RangeError(`Invalid ${rr.type} address "${rr.address}"`);
        this.bytes(ip);
        break;
      }
      case "PTR":
        this.name(rr.target, true);
        break;
      case "SOA":
        this.name(rr.mname, true);
        this.name(rr.rname, true);
        for (const v of [rr.serial, rr.refresh, rr.retry, rr.expire, rr.minimum]) this.u32(v);
        break;
    }
    scratch.writeUInt16BE(this.off - lenAt - 2, lenAt);
  }
}

/** Worst-case octets of a record, to keep the message under 64 KiB. */
const MAX_RECORD = 2 * 255 + 255 + 40;

/**
 * Encodes a response. Records that would push the message past 65,535 octets are left out and
 * TC is set (`overflowed`). Throws RangeError for an invalid name or address in `spec` (callers
 * pass validated zone data). Synchronous, allocates one Buffer for the result.
 */
export function encodeResponse(spec: ResponseSpec): EncodedResponse {
  const w = new Writer();
  let flags = spec.flags;
  if (spec.question) {
    w.name(spec.question.name, false);
    w.u16(spec.question.type);
    w.u16(spec.question.class);
  }
  const questionEnd = w.off;
  const answers = spec.answers ?? [];
  const authority = spec.authority ?? [];
  const answerEnds: number[] = [];
  const ancount = w.records(answers, answerEnds);
  const nscount = ancount < answers.length ? 0 : w.records(authority);
  const overflowed = ancount < answers.length || nscount < authority.length;
  const hasOpt = spec.ednsUdpSize !== undefined;
  if (hasOpt) writeOpt(w, spec.ednsUdpSize ?? 512, spec.extendedRcode ?? 0);
  if (overflowed) flags |= Flag.TC;
  scratch.writeUInt16BE(spec.id & 0xffff, 0);
  scratch.writeUInt16BE(flags & 0xffff, 2);
  scratch.writeUInt16BE(spec.question ? 1 : 0, 4);
  scratch.writeUInt16BE(ancount, 6);
  scratch.writeUInt16BE(nscount, 8);
  scratch.writeUInt16BE(hasOpt ? 1 : 0, 10);
  const bytes = Buffer.from(scratch.subarray(0, w.off));
  return { bytes, questionEnd, answerEnds, hasOpt, overflowed };
}

function writeOpt(w: Writer, udpSize: number, extendedRcode: number): void {
  scratch[w.off++] = 0; // root
  w.u16(RRType.OPT);
  w.u16(udpSize);
  scratch[w.off++] = extendedRcode & 0xff;
  scratch[w.off++] = 0; // version
  w.u16(0); // DO=0: we do not do DNSSEC
  w.u16(0); // no options
}

/**
 * The number of whole answers of `enc` that fit in `limit` octets together with the header,
 * the question and (when present) the OPT record.
 */
function answersThatFit(enc: EncodedResponse, limit: number): number {
  const budget = limit - (enc.hasOpt ? OPT_SIZE : 0);
  let k = 0;
  while (k < enc.answerEnds.length && (enc.answerEnds[k] as number) <= budget) k++;
  return k;
}

/**
 * `enc` itself when it fits in `limit` octets; otherwise a copy cut after the last whole answer
 * that fits, with TC set, no authority section, and the OPT record kept (RFC 2181 §9, RFC 6891).
 */
export function truncateResponse(enc: EncodedResponse, limit: number): Buffer {
  if (enc.bytes.length <= limit) return enc.bytes;
  const k = answersThatFit(enc, limit);
  const cut = k === 0 ? enc.questionEnd : (enc.answerEnds[k - 1] as number);
  const optLen = enc.hasOpt ? OPT_SIZE : 0;
  const out = Buffer.allocUnsafe(cut + optLen);
  enc.bytes.copy(out, 0, 0, cut);
  if (optLen) enc.bytes.copy(out, cut, enc.bytes.length - OPT_SIZE);
  out[2] = (out[2] as number) | (Flag.TC >> 8);
  out.writeUInt16BE(k, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(optLen ? 1 : 0, 10);
  return out;
}

/**
 * A header-only (or header + question) error response to `query`, copying its ID, opcode, RD
 * and CD bits, with `rcode`. `questionEnd` > 12 copies the query's question verbatim; a defined
 * `ednsUdpSize` appends an OPT record (a query with OPT must get one back, RFC 6891 §6.1.1).
 */
export function errorResponse(
  query: Uint8Array,
  rcode: number,
  questionEnd = HEADER_SIZE,
  ednsUdpSize?: number,
): Buffer {
  const optLen = ednsUdpSize === undefined ? 0 : OPT_SIZE;
  const out = Buffer.allocUnsafe(questionEnd + optLen);
  out.set(query.subarray(0, questionEnd));
  out[2] = 0x80 | ((query[2] as number) & 0x79); // QR, opcode, RD
  out[3] = 0x80 | ((query[3] as number) & Flag.CD) | (rcode & 0xf); // RA
  out.writeUInt16BE(questionEnd > HEADER_SIZE ? 1 : 0, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(optLen ? 1 : 0, 10);
  if (ednsUdpSize !== undefined) {
    out[questionEnd] = 0;
    out.writeUInt16BE(RRType.OPT, questionEnd + 1);
    out.writeUInt16BE(ednsUdpSize, questionEnd + 3);
    out.writeUInt32BE(0, questionEnd + 5);
    out.writeUInt16BE(0, questionEnd + 9);
  }
  return out;
}

/** Options of `encodeQuery`. */
export interface QueryOptions {
  id?: number;
  /** Recursion desired; default true. */
  rd?: boolean;
  /** Adds an OPT record advertising this UDP payload size. */
  ednsUdpSize?: number;
  qclass?: number;
}

/** Encodes a standard query for `name`/`type` (for clients, tests and benchmarks). */
export function encodeQuery(name: string, type: number, options: QueryOptions = {}): Buffer {
  const w = new Writer();
  w.name(name, false);
  w.u16(type);
  w.u16(options.qclass ?? 1);
  if (options.ednsUdpSize !== undefined) writeOpt(w, options.ednsUdpSize, 0);
  scratch.writeUInt16BE((options.id ?? 0) & 0xffff, 0);
  scratch.writeUInt16BE(options.rd === false ? 0 : Flag.RD, 2);
  scratch.writeUInt16BE(1, 4);
  scratch.writeUInt32BE(0, 6);
  scratch.writeUInt16BE(options.ednsUdpSize !== undefined ? 1 : 0, 10);
  return Buffer.from(scratch.subarray(0, w.off));
}
