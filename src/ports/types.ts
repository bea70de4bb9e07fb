/** The vocabulary of published ports (`docker run -p`), shared by the parser, the picker and the planner. */

export type PortProto = "tcp" | "udp";

/**
 * One port binding as Docker asks for it (an entry of `com.docker.network.portmap`). `hostPort` 0
 * means "any free port" (`-p 80`, `-P`); `hostPortEnd` > `hostPort` means "any free port in
 * hostPort..hostPortEnd" (`-p 8000-8010:80`).
 */
export interface PortRequest {
  proto: PortProto;
  containerPort: number;
  /** "" (every address), or one canonical IPv4/IPv6 address ("0.0.0.0" and "::" included). */
  hostIp: string;
  hostPort: number;
  hostPortEnd: number;
}

/**
 * One binding weave programs: a host port fixed, for one address family. `hostIp` is "0.0.0.0" or
 * "::" for every address of that family, else one address (loopback included).
 */
export interface PortBinding {
  proto: PortProto;
  family: 4 | 6;
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

/** A binding owned by an endpoint, as kept in the state. */
export interface EndpointPortBinding extends PortBinding {
  endpointId: string;
}

/** What the ports planner needs for one binding: where the traffic goes. */
export interface PortRule extends PortBinding {
  bridge: string;
  /** Host end of the endpoint's veth (a bridge port; hairpin mode goes on it). */
  hostIf: string;
  /** The container's address of `family` on the endpoint's network (plain IP). */
  containerIp: string;
}

/** The published-port rules of the whole host, plus the subnets of every bridge that has one. */
export interface PortRuleset {
  rules: PortRule[];
}

/** Docker's protocol numbers in `com.docker.network.portmap` (Proto field). */
export const PROTO_NUMBERS: Readonly<Record<number, PortProto>> = { 6: "tcp", 17: "udp" };

export const PROTO_NUMBER: Readonly<Record<PortProto, number>> = { tcp: 6, udp: 17 };

/** True for the "every address" host IPs. */
export function isWildcard(hostIp: string): boolean {
  return hostIp === "0.0.0.0" || hostIp === "::";
}

/** `0.0.0.0:8080/tcp`, `[::1]:8080/udp`. */
export function describeBinding(b: Pick<PortBinding, "hostIp" | "hostPort" | "proto">): string {
  const ip = b.hostIp.includes(":") ? `[${b.hostIp}]` : b.hostIp;
  return `${ip}:${b.hostPort}/${b.proto}`;
}
