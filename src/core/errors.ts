/**
 * One error class for the whole project. Users (and the edges that translate errors for Docker
 * and for the CLI) match on `code`, never on the message text.
 */
export const ERROR_CODES = [
  "WEAVE_BAD_REQUEST",
  "WEAVE_NOT_FOUND",
  "WEAVE_CONFLICT",
  "WEAVE_IPAM_EXHAUSTED",
  "WEAVE_IPAM_ADDRESS_IN_USE",
  "WEAVE_IPAM_POOL_OVERLAP",
  "WEAVE_UNSUPPORTED",
  "WEAVE_DATAPLANE",
  "WEAVE_STATE",
  "WEAVE_DOCKER",
  "WEAVE_TIMEOUT",
  "WEAVE_NOT_RUNNING",
  "WEAVE_PERMISSION",
  "WEAVE_CONFIG",
  "WEAVE_INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** True for a known error code (e.g. one received from the daemon). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && (ERROR_CODES as readonly string[]).includes(code);
}

export class WeaveError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WeaveError";
    this.code = code;
  }
}

/** True when `err` is a WeaveError, optionally with the given code. */
export function isWeaveError(err: unknown, code?: ErrorCode): err is WeaveError {
  return err instanceof WeaveError && (code === undefined || err.code === code);
}

/** `err` as a WeaveError: itself when it is one, else wrapped with `code` (and `context`, if any). */
export function toWeaveError(err: unknown, code: ErrorCode = "WEAVE_INTERNAL", context?: string): WeaveError {
  if (err instanceof WeaveError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new WeaveError(code, context ? `${context}: ${text}` : text, { cause: err });
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
