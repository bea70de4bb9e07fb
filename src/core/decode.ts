/**
 * Small decoders for foreign JSON (Docker's Engine API, etcd's gateway): they check the shape of
 * what arrived and build the typed value, instead of casting it. A decoder is called with the value
 * and its path for messages ("[2].IPAM.Config"); `decodeJson` runs one and turns a wrong shape into
 * the caller's WeaveError, e.g. `...: [2].Name is a number, expected a string`.
 */
import { WeaveError, type ErrorCode } from "./errors.js";

export type Decoder<T> = (value: unknown, at: string) => T;

/** A wrong shape; never leaves this module's `decodeJson`. */
class ShapeMismatch extends Error {}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value === undefined) return "missing";
  return `${typeof value === "object" ? "an" : "a"} ${typeof value}`;
}

function mismatch(at: string, value: unknown, expected: string): ShapeMismatch {
  return new ShapeMismatch(`${at === "" ? "the value" : at} is ${describe(value)}, expected ${expected}`);
}

/**
 * Parses `text` as JSON (unless `text` is already parsed: pass `{ value }`) and decodes it. Throws
 * WeaveError `code` with message `${context}: <what is wrong>` for text that is not JSON or a value
 * of the wrong shape.
 */
export function decodeJson<T>(
  code: ErrorCode,
  context: string,
  input: string | { value: unknown },
  decoder: Decoder<T>,
): T {
  let value: unknown;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new WeaveError(code, `${context}: invalid JSON`, { cause: err });
    }
  } else value = input.value;
  try {
    return decoder(value, "");
  } catch (err) {
    if (err instanceof ShapeMismatch) throw new WeaveError(code, `${context}: ${err.message}`);
    throw err;
  }
}

export const str: Decoder<string> = (v, at) => {
  if (typeof v !== "string") throw mismatch(at, v, "a string");
  return v;
};

export const num: Decoder<number> = (v, at) => {
  if (typeof v !== "number" || !Number.isFinite(v)) throw mismatch(at, v, "a number");
  return v;
};

export const bool: Decoder<boolean> = (v, at) => {
  if (typeof v !== "boolean") throw mismatch(at, v, "a boolean");
  return v;
};

/** An integer sent as a decimal string (protobuf's int64 in JSON), or as a number. */
export const int64: Decoder<number> = (v, at) => {
  if (typeof v === "string" && /^-?[0-9]+$/.test(v)) return Number(v);
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw mismatch(at, v, "an integer");
};

/** An object, with a reader for its fields. */
export interface Fields {
  /** The field decoded by `d`. */
  req<T>(key: string, d: Decoder<T>): T;
  /** `{ [key]: value }` when the field is present and not null, `{}` otherwise: spread it. */
  opt<K extends string, T>(key: K, d: Decoder<T>): Partial<Record<K, T>>;
  /** The fields of a nested object; an absent or null one reads as an empty object. */
  sub(key: string): Fields;
}

/** Checks that `v` is a JSON object (not an array) and returns a reader of its fields. */
export function fields(v: unknown, at: string): Fields {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw mismatch(at, v, "an object");
  const o = new Map<string, unknown>(Object.entries(v));
  const path = (key: string) => (at === "" ? key : `${at}.${key}`);
  return {
    req: (key, d) => d(o.get(key), path(key)),
    opt: <K extends string, T>(key: K, d: Decoder<T>) => {
      const value = o.get(key);
      if (value === undefined || value === null) return {};
      const out: Partial<Record<K, T>> = {};
      out[key] = d(value, path(key));
      return out;
    },
    sub: (key) => fields(o.get(key) ?? {}, path(key)),
  };
}

/** `d`, or `fallback` when the value is absent or null. */
export function orElse<T>(d: Decoder<T>, fallback: T): Decoder<T> {
  return (v, at) => (v === undefined || v === null ? fallback : d(v, at));
}

/** `d`, or null when the value is absent or null. */
export function orNull<T>(d: Decoder<T>): Decoder<T | null> {
  return orElse<T | null>(d, null);
}

export function arrayOf<T>(item: Decoder<T>): Decoder<T[]> {
  return (v, at) => {
    if (!Array.isArray(v)) throw mismatch(at, v, "an array");
    return v.map((x: unknown, i) => item(x, `${at}[${i}]`));
  };
}

/** An object used as a map: every value decoded by `item`. */
export function recordOf<T>(item: Decoder<T>): Decoder<Record<string, T>> {
  return (v, at) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw mismatch(at, v, "an object");
    // fromEntries defines each key as an own property, even "__proto__".
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, item(x, `${at}[${JSON.stringify(k)}]`)]));
  };
}

/** Any JSON value, kept as it is (for fields only tested for presence). */
export const anything: Decoder<unknown> = (v) => v;
