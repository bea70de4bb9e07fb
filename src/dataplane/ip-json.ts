/**
 * Reading iproute2's `-json` output (ip, bridge) without trusting its shape: helpers that narrow
 * unknown values, and the one parser of a JSON array shared by the data-plane adapters.
 */
import { WeaveError } from "../core/index.js";

export type Obj = Record<string, unknown>;

export function obj(value: unknown): Obj {
  return typeof value === "object" && value !== null ? (value as Obj) : {};
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The objects of a JSON array printed by `what` ("" is an empty array); WEAVE_DATAPLANE otherwise. */
export function parseJsonArray(text: string, what: string): Obj[] {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() === "" ? "[]" : text);
  } catch (err) {
    throw new WeaveError("WEAVE_DATAPLANE", `Cannot parse the output of "${what}"`, { cause: err });
  }
  if (!Array.isArray(value)) {
    throw new WeaveError("WEAVE_DATAPLANE", `Cannot parse the output of "${what}": not a JSON array`);
  }
  return value.map(obj);
}
