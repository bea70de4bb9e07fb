/**
 * DNS wire format, parsing side (RFC 1035, RFC 6891 EDNS0).
 *
 * Everything here is defensive and bounded by the packet length, never by counts in the header:
 * a 19-byte packet claiming 26,734 questions is rejected after reading 12 bytes. Compression
 * pointers are only followed by `readName`, each jump must go strictly backwards from where the
 * current run of labels began (so no loop is possible) and names are capped at 255 octets.
 * Nothing here throws on malformed input: results carry a status instead.
 */

/** Record types used by weaveDNS (numeric wire values). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

/** Response codes (the low 4 bits of the header flags). */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Header flag bits (16-bit flags word). */
export const Flag = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, CD: 0x0010 } as const;

/** Class IN and the ANY class (QCLASS *). */
export const CLASS_IN = 1;
export const CLASS_ANY = 255;
/** Octets in a DNS header. */
export const HEADER_SIZE = 12;
/** Longest name on the wire, in octets (RFC 1035 §2.3.4). */
export const MAX_NAME_OCTETS = 255;
/** Longest label, in octets. */
export const MAX_LABEL_OCTETS = 63;

const TYPE_NAMES = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));

/** Mnemonic of a record type (`"A"`, `"AAAA"`) or `"TYPE<n>"` (RFC 3597) for others. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** Result of scanning a query; see `scanQuery`. */
export type ScanStatus = "ok" | "drop" | "formerr" | "notimp";

/**
 * What `scanQuery` learned about a query. Reused between calls on the hot path, so copy out
 * what you need before the next scan.
 */
export interface QueryScan {
  status: ScanStatus;
  /** Offset just after the question name (the root label included). */
  nameEnd: number;
  /** Offset just after the question's type and class. */
  questionEnd: number;
  qtype: number;
  qclass: number;
  edns: boolean;
  /** The requestor's UDP payload size from OPT (raw, not clamped). */
  ednsUdpSize: number;
  ednsVersion: number;
}

/** A fresh, reusable scan result. */
export function newQueryScan(): QueryScan {
  return {
    status: "drop",
    nameEnd: 0,
    questionEnd: 0,
    qtype: 0,
    qclass: 0,
    edns: false,
    ednsUdpSize: 0,
    ednsVersion: 0,
  };
}

/**
 * Validates a query message without allocating, filling `out`. Work is O(packet length).
 * - `drop`: shorter than a header, or a response (QR=1); never answer these (no reflection loops).
 * - `notimp`: opcode other than QUERY.
 * - `formerr`: QDCOUNT ≠ 1, answers present, a bad question name (pointer, bad label type,
 *   longer than 255 octets, runs past the end), a question of type OPT, a malformed or second
 *   OPT record, or records running past the end of the packet.
 * Trailing octets after the last record are ignored, like dnsmasq and BIND do.
 */
export function scanQuery(msg: Uint8Array, out: QueryScan): QueryScan {
  out.status = "drop";
  out.edns = false;
  out.ednsUdpSize = 0;
  out.ednsVersion = 0;
  const len = msg.length;
  if (len < HEADER_SIZE) return out;
  const b2 = msg[2] as number;
  if (b2 & 0x80) return out;
  if ((b2 & 0x78) !== 0) {
    out.status = "notimp";
    return out;
  }
  out.status = "formerr";
  if (msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0) return out;
  let off = HEADER_SIZE;
  for (;;) {
    if (off >= len) return out;
    const l = msg[off] as number;
    if (l === 0) {
      off++;
      break;
    }
    if (l > MAX_LABEL_OCTETS) return out; // pointer or reserved label type
    off += l + 1;
    if (off - HEADER_SIZE >= MAX_NAME_OCTETS) return out;
  }
  if (off + 4 > len) return out;
  out.nameEnd = off;
  out.qtype = ((msg[off] as number) << 8) | (msg[off + 1] as number);
  out.qclass = ((msg[off + 2] as number) << 8) | (msg[off + 3] as number);
  if (out.qtype === RRType.OPT) return out;
  off += 4;
  out.questionEnd = off;
  // Authority (rare in queries) and additional records: each costs ≥ 11 octets, so the loop is
  // bounded by the packet length whatever the counts say.
  let remaining = ((msg[8] as number) << 8) | (msg[9] as number);
  const nscount = remaining;
  remaining += ((msg[10] as number) << 8) | (msg[11] as number);
  for (let i = 0; i < remaining; i++) {
    const rrStart = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > len) return out;
    const type = ((msg[off] as number) << 8) | (msg[off + 1] as number);
    const rdlen = ((msg[off + 8] as number) << 8) | (msg[off + 9] as number);
    if (type === RRType.OPT) {
      if (out.edns || i < nscount || msg[rrStart] !== 0) return out;
      out.edns = true;
      out.ednsUdpSize = ((msg[off + 2] as number) << 8) | (msg[off + 3] as number);
      out.ednsVersion = msg[off + 5] as number;
    }
    off += 10 + rdlen;
    if (off > len) return out;
  }
  out.status = "ok";
  return out;
}

/** Offset after a name starting at `off` without following pointers; -1 when malformed. */
export function skipName(msg: Uint8Array, off: number): number {
  const start = off;
  const len = msg.length;
  for (;;) {
    if (off >= len) return -1;
    const l = msg[off] as number;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= len ? off + 2 : -1;
    if (l > MAX_LABEL_OCTETS) return -1;
    off += l + 1;
    if (off - start >= MAX_NAME_OCTETS) return -1;
  }
}

/** A decoded name and the offset just after it (where the record continues). */
export interface NameRead {
  name: string;
  end: number;
}

/**
 * Decodes a possibly compressed name at `off` into presentation form, absolute with a trailing
 * dot (`"db.weave.local."`, root is `"."`). Octets other than printable ASCII, `.` and `\` inside
 * labels are escaped (`\046`, `\\`), so distinct wire names never map to the same string.
 * Returns undefined for any malformation: bad label type, a pointer that does not go strictly
 * backwards, more than 127 jumps, a name over 255 octets, or running past the end.
 */
export function readName(msg: Uint8Array, off: number): NameRead | undefined {
  const len = msg.length;
  let name = "";
  let octets = 1;
  let end = -1;
  let segmentStart = off;
  let jumps = 0;
  for (;;) {
    if (off >= len) return undefined;
    const l = msg[off] as number;
    if (l === 0) {
      if (end < 0) end = off + 1;
      return { name: name === "" ? "." : name, end };
    }
    if ((l & 0xc0) === 0xc0) {
      if (off + 1 >= len) return undefined;
      const target = ((l & 0x3f) << 8) | (msg[off + 1] as number);
      if (target >= segmentStart || ++jumps > 127) return undefined;
      if (end < 0) end = off + 2;
      off = target;
      segmentStart = target;
      continue;
    }
    if (l > MAX_LABEL_OCTETS || off + 1 + l > len) return undefined;
    octets += l + 1;
    if (octets > MAX_NAME_OCTETS) return undefined;
    name += labelText(msg, off + 1, l) + ".";
    off += l + 1;
  }
}

function labelText(msg: Uint8Array, start: number, l: number): string {
  let s = "";
  for (let i = start; i < start + l; i++) {
    const c = msg[i] as number;
    if (c === 0x2e || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\" + String(c).padStart(3, "0");
  }
  return s;
}

/** A question, decoded. */
export interface Question {
  name: string;
  type: number;
  class: number;
}

/** A resource record as found in a message (rdata left raw except for names we need). */
export interface RawRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** Offset of the rdata in the message, and its length. */
  rdataOffset: number;
  rdataLength: number;
}

/** A fully decoded message; see `decodeMessage`. */
export interface DecodedMessage {
  id: number;
  flags: number;
  rcode: number;
  questions: Question[];
  answers: RawRecord[];
  authority: RawRecord[];
  additional: RawRecord[];
}

/**
 * Decodes any message (query or response) with bounded work; undefined when malformed. Used for
 * checking upstream replies and in tests; the query hot path uses `scanQuery`.
 */
export function decodeMessage(msg: Uint8Array): DecodedMessage | undefined {
  if (msg.length < HEADER_SIZE) return undefined;
  const u16 = (o: number): number => ((msg[o] as number) << 8) | (msg[o + 1] as number);
  const flags = u16(2);
  const out: DecodedMessage = {
    id: u16(0),
    flags,
    rcode: flags & 0xf,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
  };
  let off = HEADER_SIZE;
  const qd = u16(4);
  for (let i = 0; i < qd; i++) {
    const n = readName(msg, off);
    if (!n || n.end + 4 > msg.length) return undefined;
    out.questions.push({ name: n.name, type: u16(n.end), class: u16(n.end + 2) });
    off = n.end + 4;
  }
  const sections: [RawRecord[], number][] = [
    [out.answers, u16(6)],
    [out.authority, u16(8)],
    [out.additional, u16(10)],
  ];
  for (const [list, count] of sections) {
    for (let i = 0; i < count; i++) {
      const n = readName(msg, off);
      if (!n || n.end + 10 > msg.length) return undefined;
      const rdlen = u16(n.end + 8);
      if (n.end + 10 + rdlen > msg.length) return undefined;
      const ttl = ((u16(n.end + 4) << 16) | u16(n.end + 6)) >>> 0;
      list.push({
        name: n.name,
        type: u16(n.end),
        class: u16(n.end + 2),
        ttl,
        rdataOffset: n.end + 10,
        rdataLength: rdlen,
      });
      off = n.end + 10 + rdlen;
    }
  }
  return out;
}

/** The effective UDP response limit for a scanned query: 512 without EDNS, else clamp(size, 512, cap). */
export function udpLimit(scan: QueryScan, cap: number): number {
  if (!scan.edns) return 512;
  return Math.min(Math.max(scan.ednsUdpSize, 512), cap);
}
