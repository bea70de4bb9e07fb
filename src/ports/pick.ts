/**
 * Host-port picking and conflict rules, pure.
 *
 * Two bindings clash when they have the same protocol and host port and their host addresses
 * overlap: the family's wildcard ("0.0.0.0", "::") overlaps every address of its family, an address
 * overlaps itself. IPv4 and IPv6 never clash (weave holds IPv6 ports with IPV6_V6ONLY, as Docker does).
 *
 * A request without a host port gets one from the ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range), as Docker's bridge driver does; picks go round the
 * range after the last one given, so a port just freed is not handed out again at once.
 */
import { isIP } from "node:net";
import { WeaveError } from "../core/index.js";
import type { EndpointPortBinding, PortBinding, PortRequest } from "./types.js";
import { describeBinding, isWildcard } from "./types.js";

export interface PortRange {
  start: number;
  end: number;
}

/** Docker's fallback when ip_local_port_range cannot be read. */
export const DEFAULT_EPHEMERAL_RANGE: PortRange = { start: 49153, end: 65535 };

/** Parses the text of /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999"); throws WEAVE_CONFIG. */
export function parsePortRange(text: string): PortRange {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || start < 1 || end > 65535 || start > end) {
    throw new WeaveError("WEAVE_CONFIG", `Invalid ephemeral port range "${text.trim()}"`);
  }
  return { start, end };
}

/** True when `a` and `b` cannot both be held (see the module note). */
export function clashes(a: PortBinding, b: PortBinding): boolean {
  if (a.proto !== b.proto || a.hostPort !== b.hostPort || a.family !== b.family) return false;
  return a.hostIp === b.hostIp || isWildcard(a.hostIp) || isWildcard(b.hostIp);
}

/** The first binding of `taken` that clashes with `b`. */
export function findClash<T extends PortBinding>(b: PortBinding, taken: readonly T[]): T | undefined {
  return taken.find((t) => clashes(b, t));
}

/**
 * The address families a request covers on an endpoint with the given addresses: "" covers every
 * family the endpoint has, a wildcard or an address its own family. Throws WEAVE_BAD_REQUEST when the
 * endpoint has no address of the asked family.
 */
export function requestFamilies(req: PortRequest, has: { v4: boolean; v6: boolean }): (4 | 6)[] {
  if (req.hostIp === "") return [...(has.v4 ? [4 as const] : []), ...(has.v6 ? [6 as const] : [])];
  const family = isIP(req.hostIp) === 6 ? 6 : 4;
  if (family === 4 ? !has.v4 : !has.v6) {
    throw new WeaveError(
      "WEAVE_BAD_REQUEST",
      `Cannot publish on ${req.hostIp}: the container has no IPv${family} address on this network`,
    );
  }
  return [family];
}

/** The bindings a request gives on host port `port`, one per family. */
export function bindingsAt(req: PortRequest, families: readonly (4 | 6)[], port: number): PortBinding[] {
  return families.map((family) => ({
    proto: req.proto,
    family,
    hostIp: req.hostIp !== "" ? req.hostIp : family === 4 ? "0.0.0.0" : "::",
    hostPort: port,
    containerPort: req.containerPort,
  }));
}

/**
 * Host ports to try for a request, in order: the port asked for; every port of an asked range; or
 * the whole ephemeral range starting after `last` (wrapping round).
 */
export function candidatePorts(req: PortRequest, ephemeral: PortRange, last: number): number[] {
  if (req.hostPort !== 0) {
    const out: number[] = [];
    for (let p = req.hostPort; p <= req.hostPortEnd; p++) out.push(p);
    return out;
  }
  const size = ephemeral.end - ephemeral.start + 1;
  const first = last >= ephemeral.start && last < ephemeral.end ? last + 1 : ephemeral.start;
  const out: number[] = [];
  for (let i = 0; i < size; i++) out.push(ephemeral.start + ((first - ephemeral.start + i) % size));
  return out;
}

/** The error for a host port another container publishes (Docker's bridge says the same). */
export function allocatedError(b: PortBinding, owner: EndpointPortBinding | undefined): WeaveError {
  const by = owner ? ` (published by endpoint ${owner.endpointId.slice(0, 12)})` : "";
  return new WeaveError(
    "WEAVE_CONFLICT",
    `Bind for ${describeBinding(b)} failed: port is already allocated${by}`,
  );
}

/** The error when no port of a range or of the ephemeral range is free. */
export function exhaustedError(req: PortRequest): WeaveError {
  const ports = req.hostPort === 0 ? "the ephemeral range" : `${req.hostPort}-${req.hostPortEnd}`;
  return new WeaveError(
    "WEAVE_CONFLICT",
    `Cannot publish container port ${req.containerPort}/${req.proto}: no free host port in ${ports}`,
  );
}
