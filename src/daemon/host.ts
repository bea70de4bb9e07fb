/** Facts about the host the daemon needs at start: MTU of the default route, group IDs, ULA range. */
import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { Exec } from "../core/index.js";
import { formatPrefix, MIN_MTU, parsePrefix, WeaveError } from "../core/index.js";
import type { MetaStore } from "../store/index.js";

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
export function ulaRange(state: MetaStore): string {
  const existing = state.getMeta("ula_range");
  if (existing) return existing;
  const id = randomBytes(5).toString("hex");
  const range = `fd${id.slice(0, 2)}:${id.slice(2, 6)}:${id.slice(6, 10)}::/48`;
  state.putMeta("ula_range", range);
  return range;
}

/**
 * The underlay address to advertise: the source address of the route to the first store endpoint,
 * or of the default route when the store is on this host (loopback), or 127.0.0.1 when the store is
 * on loopback and there is no route at all (a cluster of one). Throws WEAVE_CONFIG otherwise.
 */
export async function detectAdvertiseAddr(exec: Exec, storeEndpoints: readonly string[]): Promise<string> {
  const candidates: string[] = [];
  for (const e of storeEndpoints) {
    const host = new URL(e).hostname.replace(/^\[|\]$/g, "");
    try {
      candidates.push(isIP(host) ? host : (await lookup(host, { family: 4 })).address);
    } catch {
      // An unresolvable name: try the next endpoint.
    }
  }
  candidates.push("192.0.2.1"); // TEST-NET-1: only looked up, never sent to; picks the default route
  for (const target of candidates) {
    if (isIP(target) !== 4 || target.startsWith("127.")) continue;
    try {
      const res = await exec("ip", ["-json", "route", "get", target], { timeoutMs: 5_000 });
      const src = (JSON.parse(res.stdout || "[]") as { prefsrc?: string }[])[0]?.prefsrc;
      if (src && !src.startsWith("127.")) return src;
    } catch {
      // No route: try the next candidate.
    }
  }
  // A store on this host and no route anywhere: a cluster of this host alone (e.g. start-all.sh).
  if (storeEndpoints.some((e) => /^https?:\/\/(127\.|localhost|\[::1\])/.test(e))) return "127.0.0.1";
  throw new WeaveError(
    "WEAVE_CONFIG",
    "Cannot find this host's underlay address (no route to the store or default route): set --advertise-addr",
  );
}

/** Interfaces that are not the underlay: weave's and Docker's own, veths, tunnels, loopback. */
const NOT_UNDERLAY = /^(lo|weave|vxw|wvg|docker|br-|veth|vx-)/;

/**
 * The underlay as this host sees it: the MTU of the device that holds `address` (0 if unknown) and
 * the subnets of the host's own addresses on its underlay interfaces (`--transport auto` routes to
 * peers inside them).
 */
export async function underlayFacts(
  exec: Exec,
  address: string,
): Promise<{ mtu: number; attached: string[] }> {
  try {
    const res = await exec("ip", ["-json", "address", "show"], { timeoutMs: 5_000 });
    const links = JSON.parse(res.stdout || "[]") as {
      ifname?: string;
      mtu?: number;
      addr_info?: { local?: string; prefixlen?: number; scope?: string }[];
    }[];
    const link = links.find((l) => (l.addr_info ?? []).some((a) => a.local === address));
    const attached: string[] = [];
    for (const l of links) {
      if (NOT_UNDERLAY.test(l.ifname ?? "lo")) continue;
      for (const a of l.addr_info ?? []) {
        if (a.local === undefined || a.prefixlen === undefined || a.scope === "host" || a.scope === "link")
          continue;
        attached.push(formatPrefix(parsePrefix(`${a.local}/${a.prefixlen}`)));
      }
    }
    return { mtu: link?.mtu ?? 0, attached: [...new Set(attached)] };
  } catch {
    return { mtu: 0, attached: [] };
  }
}

/** The underlay MTU assumed when the underlay device's cannot be read. */
export const FALLBACK_UNDERLAY_MTU = FALLBACK_MTU + OVERLAY_OVERHEAD;
