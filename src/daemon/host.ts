/** Facts about the host the daemon needs at start: MTU of the default route, group IDs, ULA range. */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Exec } from "../core/index.js";
import { WeaveError } from "../core/index.js";
import { MIN_MTU } from "../driver/index.js";
import type { LocalState } from "../store/index.js";

/**
 * VXLAN over IPv4 costs 50 bytes. It is reserved on one host too, so that a network's MTU does not
 * change when hosts join it later (multi-host weave carries it over VXLAN).
 */
export const OVERLAY_OVERHEAD = 50;
export const FALLBACK_MTU = 1450;

/** MTU of the default route's device minus the overlay overhead, or FALLBACK_MTU. */
export async function detectMtu(exec: Exec): Promise<number> {
  try {
    const res = await exec("ip", ["-json", "route", "show", "default"], { timeoutMs: 5_000 });
    const routes = JSON.parse(res.stdout || "[]") as { dev?: string }[];
    const dev = routes.find((r) => r.dev)?.dev;
    if (!dev) return FALLBACK_MTU;
    const mtu = Number(readFileSync(`/sys/class/net/${dev}/mtu`, "utf8").trim());
    return Number.isFinite(mtu) && mtu > 0 ? Math.max(MIN_MTU, mtu - OVERLAY_OVERHEAD) : FALLBACK_MTU;
  } catch {
    return FALLBACK_MTU;
  }
}

/** Resolves a group name or numeric gid; throws WEAVE_CONFIG for an unknown group. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = "";
  try {
    text = readFileSync("/etc/group", "utf8");
  } catch {
    // Fall through to the error below.
  }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new WeaveError("WEAVE_CONFIG", `Unknown group "${group}" for --socket-group`);
}

/** This host's IPv6 ULA /48 (RFC 4193: random global ID), created once and kept in the state. */
export function ulaRange(state: LocalState): string {
  const existing = state.getMeta("ula_range");
  if (existing) return existing;
  const id = randomBytes(5).toString("hex");
  const range = `fd${id.slice(0, 2)}:${id.slice(2, 6)}:${id.slice(6, 10)}::/48`;
  state.putMeta("ula_range", range);
  return range;
}
