/**
 * Small, explicit request validation for the plugin protocol. Field names follow Docker's Go
 * structs; Docker's decoder is case-insensitive, and so is `field`.
 */
import type { Json, JsonObject } from "../core/index.js";
import { WeaveError } from "../core/index.js";

function bad(method: string, message: string): WeaveError {
  return new WeaveError("WEAVE_BAD_REQUEST", `Invalid ${method} request: ${message}`);
}

/** Parses a request body; an empty body is `{}` (Docker sends none for argument-less calls). */
export function parseBody(method: string, raw: string): JsonObject {
  if (raw.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid ${method} request: malformed JSON (${String(err)})`);
  }
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw bad(method, "the body must be a JSON object");
  return value as JsonObject;
}

/** Reads `name` from `obj`, matching the key case-insensitively like Go's encoding/json. */
export function field(obj: JsonObject, name: string): Json | undefined {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

export class Reader {
  constructor(
    readonly method: string,
    private readonly obj: JsonObject,
  ) {}

  /** A string field; `required` rejects absent and empty values. */
  string(name: string, required = false): string {
    const v = field(this.obj, name);
    if (v === undefined || v === null) {
      if (required) throw bad(this.method, `field "${name}" is required`);
      return "";
    }
    if (typeof v !== "string") throw bad(this.method, `field "${name}" must be a string`);
    if (required && v === "") throw bad(this.method, `field "${name}" must not be empty`);
    return v;
  }

  /** An identifier such as NetworkID or EndpointID: non-empty, at most 128 safe characters. */
  id(name: string): string {
    const v = this.string(name, true);
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(v)) throw bad(this.method, `field "${name}" is not a valid ID`);
    return v;
  }

  /** An object field (null/absent gives {}). */
  object(name: string): JsonObject {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v))
      throw bad(this.method, `field "${name}" must be an object`);
    return v;
  }

  /** An object whose values must all be strings (IPAM options). */
  stringMap(name: string): Record<string, string> {
    const obj = this.object(name);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v !== "string") throw bad(this.method, `field "${name}.${k}" must be a string`);
      out[k] = v;
    }
    return out;
  }

  array(name: string): Json[] {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(this.method, `field "${name}" must be an array`);
    return v;
  }

  boolean(name: string): boolean {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") throw bad(this.method, `field "${name}" must be a boolean`);
    return v;
  }

  /** A nested reader for an object field. */
  child(name: string): Reader {
    return new Reader(`${this.method}`, this.object(name));
  }
}

export function asObject(method: string, v: Json, what: string): JsonObject {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(method, `${what} must be an object`);
  return v;
}
