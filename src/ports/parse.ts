/**
 * Reads the port options Docker hands a network driver (CreateEndpoint, Join and
 * ProgramExternalConnectivity `Options`): `com.docker.network.portmap` (what `-p`/`-P` asked for) and
 * `com.docker.network.endpoint.exposedports` (`--expose`, and the image's EXPOSE). Pure.
 *
 * Shapes (Docker 20.10 and 28 encode libnetwork's types with encoding/json):
 *   "com.docker.network.portmap": [{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080}]
 *   "com.docker.network.endpoint.exposedports": [{"Proto":6,"Port":80}]
 * Proto 6 is TCP, 17 UDP (132 SCTP, refused). A range `-p 8000-8002:8000-8002` arrives as one entry
 * per port; `-p 8000-8010:80` as HostPort 8000, HostPortEnd 8010; `-p 80` and `-P` as HostPort 0.
 */
import { WeaveError } from "../core/index.js";
import type { Json, JsonObject } from "../core/index.js";
import { formatAddress, parseAddress } from "../ipam/index.js";
import type { PortProto, PortRequest } from "./types.js";
import { PROTO_NUMBERS } from "./types.js";

export const OPT_PORTMAP = "com.docker.network.portmap";
export const OPT_EXPOSED_PORTS = "com.docker.network.endpoint.exposedports";

export interface ExposedPort {
  proto: PortProto;
  port: number;
}

export interface PortOptions {
  requests: PortRequest[];
  exposed: ExposedPort[];
}

function bad(message: string): WeaveError {
  return new WeaveError("WEAVE_BAD_REQUEST", message);
}

/** Go's encoding/json matches field names case-insensitively; so does this. */
function field(entry: JsonObject, name: string): Json | undefined {
  if (name in entry) return entry[name];
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : entry[key];
}

function list(options: JsonObject, key: string): JsonObject[] {
  const value = options[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(`Invalid "${key}": expected a list, got ${JSON.stringify(value)}`);
  return value.map((entry, i) => {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw bad(`Invalid "${key}"[${i}]: expected an object, got ${JSON.stringify(entry)}`);
    }
    return entry;
  });
}

function int(entry: JsonObject, where: string, name: string, min: number, max: number): number {
  const v = field(entry, name) ?? 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`Invalid ${where}.${name}: ${JSON.stringify(v)} (expected an integer ${min}-${max})`);
  }
  return v;
}

function proto(entry: JsonObject, where: string): PortProto {
  const v = field(entry, "Proto") ?? 0;
  const p = typeof v === "number" ? PROTO_NUMBERS[v] : undefined;
  if (p) return p;
  if (v === 132) {
    throw new WeaveError(
      "WEAVE_UNSUPPORTED",
      `Cannot publish ${where}: weave publishes TCP and UDP ports, not SCTP`,
    );
  }
  throw bad(`Invalid ${where}.Proto: ${JSON.stringify(v)} (expected 6 for TCP or 17 for UDP)`);
}

function hostIp(entry: JsonObject, where: string): string {
  const v = field(entry, "HostIP") ?? "";
  if (typeof v !== "string") throw bad(`Invalid ${where}.HostIP: ${JSON.stringify(v)} (expected an address)`);
  if (v === "") return "";
  try {
    return formatAddress(parseAddress(v));
  } catch {
    throw bad(`Invalid ${where}.HostIP: "${v}" is not an IPv4 or IPv6 address`);
  }
}

/**
 * Parses the port options of one Docker request. Absent or null lists are empty. Throws
 * WEAVE_BAD_REQUEST naming the entry and field of the first bad value, WEAVE_UNSUPPORTED for SCTP.
 */
export function parsePortOptions(options: JsonObject): PortOptions {
  const requests = list(options, OPT_PORTMAP).map((entry, i): PortRequest => {
    const where = `"${OPT_PORTMAP}"[${i}]`;
    const hostPort = int(entry, where, "HostPort", 0, 65535);
    const end = int(entry, where, "HostPortEnd", 0, 65535);
    if (end !== 0 && end < hostPort) {
      throw bad(`Invalid ${where}.HostPortEnd: ${end} is below HostPort ${hostPort}`);
    }
    if (hostPort === 0 && end !== 0) throw bad(`Invalid ${where}.HostPortEnd: ${end} without a HostPort`);
    return {
      proto: proto(entry, where),
      containerPort: int(entry, where, "Port", 1, 65535),
      hostIp: hostIp(entry, where),
      hostPort,
      hostPortEnd: end === 0 ? hostPort : end,
    };
  });
  const exposed = list(options, OPT_EXPOSED_PORTS).map((entry, i): ExposedPort => {
    const where = `"${OPT_EXPOSED_PORTS}"[${i}]`;
    return { proto: proto(entry, where), port: int(entry, where, "Port", 1, 65535) };
  });
  return { requests, exposed };
}
