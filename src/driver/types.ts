/** Typed plugin-protocol requests and responses, after validation at the edge. */
import type { JsonObject } from "../core/index.js";
import type { IpamData } from "../store/index.js";

export interface CreateNetworkRequest {
  networkId: string;
  options: JsonObject;
  ipv4: IpamData[];
  ipv6: IpamData[];
}

export interface CreateEndpointRequest {
  networkId: string;
  endpointId: string;
  /** CIDR or "" (IPv4-less networks). */
  address: string;
  addressIPv6: string;
  macAddress: string;
  options: JsonObject;
}

export interface CreateEndpointResponse {
  Interface: { MacAddress: string } | null;
}

export interface EndpointRef {
  networkId: string;
  endpointId: string;
}

export interface JoinRequest extends EndpointRef {
  sandboxKey: string;
  options: JsonObject;
}

export interface StaticRoute {
  Destination: string;
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: StaticRoute[];
  DisableGatewayService: boolean;
}
