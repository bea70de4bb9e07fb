/**
 * How the adapters log what they changed in the kernel: each change on its own line at info level
 * when there are few (the usual case: a container came or went), one summary line with the first
 * few when there are many (a host with 100 containers joined, or a resync of a whole cluster), so
 * that programming 100,000 entries does not write 100,000 log lines.
 */
import type { Logger } from "../core/index.js";

/** More changes than this in one pass are summarised. */
export const APPLIED_LINES = 20;

export function logApplied(logger: Logger, message: string, applied: readonly string[]): void {
  if (applied.length <= APPLIED_LINES) {
    for (const line of applied) logger.info(message, { op: line });
    return;
  }
  logger.info(message, { ops: applied.length, first: applied.slice(0, 5) });
  for (const line of applied) logger.debug(message, { op: line });
}
