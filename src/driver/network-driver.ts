/**
 * The network driver: Docker's CreateNetwork/CreateEndpoint/Join/... over the local state and the
 * data plane. Every change to a network goes through one serial queue keyed by network ID, and is
 * written to the state before the data plane is touched and before Docker gets an answer.
 * Deletes of unknown objects succeed (Docker retries nothing and swallows their errors anyway).
 */
import { createHash } from "node:crypto";
import type { KeyedSerialQueue, Logger } from "../core/index.js";
import { errorMessage, EventStream, WeaveError } from "../core/index.js";
import type { Dataplane } from "../dataplane/index.js";
import { VETH_HOST_PREFIX, VETH_PEER_PREFIX } from "../dataplane/index.js";
import type { EndpointRecord, NetworkRecord, NetworkStore } from "../store/index.js";
import { CLUSTER_ID_OPTION } from "../store/index.js";
import type { DriverEvent, NetworkBinder } from "./events.js";
import {
  checkAddressesFree,
  checkEndpointInterface,
  checkIpamData,
  checkMac,
  checkSubnetsFree,
} from "./input-checks.js";
import {
  bridgeSpec,
  defaultBridgeName,
  firstGateway,
  networkPolicy,
  parseNetworkOptions,
  vethSpec,
} from "./network-spec.js";
import type {
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  EndpointRef,
  JoinRequest,
  JoinResponse,
  StaticRoute,
} from "./types.js";

export const CONTAINER_IF_PREFIX = "ethwe";

export interface DriverConfig {
  /** MTU for networks without their own `-o com.docker.network.driver.mtu`. */
  mtu: number;
  /** Every endpoint gets a connected /32 route to this address (--nameserver). */
  nameserver: string | undefined;
}

export interface DriverDeps {
  /** Networks and endpoints (the driver is their one writer); pools, read-only. */
  state: NetworkStore;
  dataplane: Dataplane;
  queue: KeyedSerialQueue;
  logger: Logger;
  config: DriverConfig;
  now: () => number;
  /** The cluster port's binding of new networks (LocalCluster on a host alone). */
  cluster: NetworkBinder;
}

const POLICY_KEY = "\u0000policies";

export class NetworkDriver {
  /** What changed, for weaveDNS, the cluster and the IPAM (see events.ts). */
  readonly events: EventStream<DriverEvent>;

  constructor(private readonly deps: DriverDeps) {
    this.events = new EventStream((err, event) =>
      deps.logger.error("a driver event listener failed", { event: event.kind, error: errorMessage(err) }),
    );
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    const { state, queue, logger } = this.deps;
    const parsed = parseNetworkOptions(req.options);
    if (parsed.unknown.length > 0) {
      logger.warning("ignoring unknown driver options", { network: req.networkId, options: parsed.unknown });
    }
    checkIpamData(req.ipv4, 4);
    checkIpamData(req.ipv6, 6);
    await queue.run(req.networkId, async () => {
      const bridge = parsed.bridge ?? defaultBridgeName(req.networkId);
      const existing = state.getNetwork(req.networkId);
      const owner = state.listNetworks().find((n) => n.bridge === bridge && n.id !== req.networkId);
      if (owner) {
        throw new WeaveError(
          "WEAVE_CONFLICT",
          `Bridge "${bridge}" is already used by weave network ${owner.id.slice(0, 12)}`,
        );
      }
      const clusterId =
        parsed.clusterId ??
        (await this.deps.cluster.bindNetwork({
          ipv4: req.ipv4.map((d) => d.Pool),
          ipv6: req.ipv6.map((d) => d.Pool),
        }));
      const record: NetworkRecord = {
        id: req.networkId,
        bridge,
        mtu: parsed.mtu ?? this.deps.config.mtu,
        internal: parsed.internal,
        ipv4: req.ipv4,
        ipv6: req.ipv6,
        options: clusterId ? { ...req.options, [CLUSTER_ID_OPTION]: clusterId } : req.options,
        createdAt: existing?.createdAt ?? this.deps.now(),
      };
      // Checked with the write, after the last await: two creations cannot both pass.
      const data = [...req.ipv4, ...req.ipv6];
      try {
        checkSubnetsFree(req.networkId, data, state.listNetworks());
      } catch (err) {
        this.events.emit({ kind: "subnets-clash", networkId: req.networkId, pools: data.map((d) => d.Pool) });
        throw err;
      }
      state.putNetwork(record);
      try {
        await this.deps.dataplane.ensureBridge(bridgeSpec(record));
        await this.applyPolicies();
      } catch (err) {
        if (!existing) {
          state.deleteNetwork(record.id);
          await this.deps.dataplane.deleteBridge(bridge).catch(() => undefined);
          await this.applyPolicies().catch(() => undefined);
        }
        throw err;
      }
      logger.info("network created", { network: req.networkId, bridge, internal: record.internal });
      this.events.emit({ kind: "network-created", network: record });
    });
  }

  async deleteNetwork(networkId: string): Promise<void> {
    const { state, dataplane, queue, logger } = this.deps;
    await queue.run(networkId, async () => {
      const network = state.getNetwork(networkId);
      if (!network) return;
      // Unrecord before deleting, so that a repair pass never recreates what is going away; a crash
      // in between leaves orphans, which the next pass removes.
      const endpoints = state.listEndpoints(networkId);
      state.deleteNetwork(networkId);
      for (const ep of endpoints) await dataplane.deleteVeth(ep.hostIf);
      await dataplane.deleteBridge(network.bridge);
      await this.applyPolicies();
      logger.info("network deleted", { network: networkId, bridge: network.bridge });
      this.events.emit({ kind: "network-removed", network });
    });
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const { state, dataplane, queue } = this.deps;
    return queue.run(req.networkId, async () => {
      const network = this.requireNetwork(req.networkId);
      if (req.address === "" && network.ipv4.length > 0) {
        throw new WeaveError(
          "WEAVE_BAD_REQUEST",
          `Invalid Interface.Address "": endpoint ${short(req.endpointId)} has no IPv4 address`,
        );
      }
      const iface = checkEndpointInterface(network, req);
      const existing = state.getEndpoint(req.endpointId);
      if (existing && existing.networkId !== req.networkId) {
        throw new WeaveError("WEAVE_CONFLICT", `Endpoint ${short(req.endpointId)} exists on another network`);
      }
      // Whatever the IPAM's replay window granted: two endpoints never share an address.
      checkAddressesFree(req.endpointId, iface, state.listEndpoints(req.networkId));
      const mac = iface.mac ?? endpointMac(req.endpointId, iface.ipv4 ?? "");
      const record: EndpointRecord = {
        id: req.endpointId,
        networkId: req.networkId,
        hostIf: VETH_HOST_PREFIX + req.endpointId.slice(0, 10),
        peerIf: VETH_PEER_PREFIX + req.endpointId.slice(0, 10),
        mac,
        ipv4: iface.ipv4,
        ipv6: iface.ipv6,
        sandboxKey: existing?.sandboxKey ?? null,
        createdAt: existing?.createdAt ?? this.deps.now(),
      };
      // Interface names come from the ID's first 10 characters: two IDs that share them cannot
      // both have a veth (Docker's IDs are random; only a client that makes them up gets here).
      const twin = state.listEndpoints().find((e) => e.id !== record.id && e.hostIf === record.hostIf);
      if (twin) {
        throw new WeaveError(
          "WEAVE_CONFLICT",
          `Invalid EndpointID "${req.endpointId}": its first 10 characters are those of endpoint ${short(twin.id)} (interface ${record.hostIf})`,
        );
      }
      state.putEndpoint(record);
      try {
        await dataplane.ensureVeth(vethSpec(record, network));
      } catch (err) {
        if (!existing) {
          state.deleteEndpoint(record.id);
          await dataplane.deleteVeth(record.hostIf).catch(() => undefined);
        }
        throw err;
      }
      this.events.emit({ kind: "endpoint-added", endpoint: record });
      // Never echo what Docker already set: return a MAC only when Docker sent none.
      return { Interface: req.macAddress === "" ? { MacAddress: mac } : null };
    });
  }

  /**
   * Records an endpoint Docker reports but weave does not know (state lost). Its veth is left as
   * it is: the container end lives in the container.
   */
  async adoptEndpoint(ref: EndpointRef, mac: string, ipv4: string, ipv6: string): Promise<void> {
    const { state, queue } = this.deps;
    await queue.run(ref.networkId, async () => {
      if (!state.getNetwork(ref.networkId) || state.getEndpoint(ref.endpointId)) return;
      const record: EndpointRecord = {
        id: ref.endpointId,
        networkId: ref.networkId,
        hostIf: VETH_HOST_PREFIX + ref.endpointId.slice(0, 10),
        peerIf: VETH_PEER_PREFIX + ref.endpointId.slice(0, 10),
        mac: mac === "" ? endpointMac(ref.endpointId, ipv4) : checkMac("MacAddress", mac),
        ipv4: ipv4 || null,
        ipv6: ipv6 || null,
        sandboxKey: null,
        createdAt: this.deps.now(),
      };
      state.putEndpoint(record);
      this.events.emit({ kind: "endpoint-added", endpoint: record });
    });
  }

  async deleteEndpoint(ref: EndpointRef): Promise<void> {
    const { state, dataplane, queue } = this.deps;
    await queue.run(ref.networkId, async () => {
      const ep = state.getEndpoint(ref.endpointId);
      if (!ep) return;
      state.deleteEndpoint(ep.id);
      this.events.emit({ kind: "endpoint-removed", endpoint: ep });
      await dataplane.deleteVeth(ep.hostIf);
    });
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const { state, dataplane, queue } = this.deps;
    return queue.run(req.networkId, async () => {
      const network = this.requireNetwork(req.networkId);
      const ep = state.getEndpoint(req.endpointId);
      if (!ep || ep.networkId !== req.networkId) {
        throw new WeaveError(
          "WEAVE_NOT_FOUND",
          `Endpoint ${short(req.endpointId)} not found on network ${short(req.networkId)}`,
        );
      }
      // The veth may have been lost (e.g. removed by hand); Join is the last chance to recreate it.
      await dataplane.ensureVeth(vethSpec(ep, network));
      state.setEndpointSandbox(ep.id, req.sandboxKey || null);
      const gateway = network.internal ? "" : firstGateway(network.ipv4);
      const gatewayV6 = network.internal ? "" : firstGateway(network.ipv6);
      const routes: StaticRoute[] = [];
      const ns = this.deps.config.nameserver;
      if (ns) routes.push({ Destination: `${ns}/${ns.includes(":") ? 128 : 32}`, RouteType: 1 });
      const res: JoinResponse = {
        InterfaceName: { SrcName: ep.peerIf, DstPrefix: CONTAINER_IF_PREFIX },
        DisableGatewayService: gateway === "" && gatewayV6 === "",
      };
      if (gateway) res.Gateway = gateway;
      if (gatewayV6) res.GatewayIPv6 = gatewayV6;
      if (routes.length > 0) res.StaticRoutes = routes;
      return res;
    });
  }

  async leave(ref: EndpointRef): Promise<void> {
    const { state, queue } = this.deps;
    await queue.run(ref.networkId, async () => {
      if (state.getEndpoint(ref.endpointId)) state.setEndpointSandbox(ref.endpointId, null);
    });
  }

  endpointInfo(ref: EndpointRef): { Value: Record<string, string> } {
    const ep = this.deps.state.getEndpoint(ref.endpointId);
    if (!ep) return { Value: {} };
    const value: Record<string, string> = { mac: ep.mac, veth: ep.hostIf };
    if (ep.ipv4) value["ipv4"] = ep.ipv4;
    if (ep.ipv6) value["ipv6"] = ep.ipv6;
    return { Value: value };
  }

  /** Recomputes and applies the traffic rules of every network (serialised). */
  applyPolicies(): Promise<void> {
    return this.deps.queue.run(POLICY_KEY, () =>
      this.deps.dataplane.applyPolicies(this.deps.state.listNetworks().map(networkPolicy)),
    );
  }

  private requireNetwork(id: string): NetworkRecord {
    const n = this.deps.state.getNetwork(id);
    if (!n) {
      throw new WeaveError(
        "WEAVE_NOT_FOUND",
        `Network ${short(id)} is not a weave network known to this host (if weave's state was lost, weave adopts Docker's weave networks within 10 s; retry then)`,
      );
    }
    return n;
  }
}

/**
 * The MAC of a container interface: derived from its IPv4 address when it has one (02:42 and the
 * four address bytes, as Docker's bridge driver does), so that an address handed out again (weave
 * gives the lowest free one) comes with the same MAC and no neighbour's ARP cache goes stale;
 * otherwise a stable, locally administered MAC derived from the endpoint ID.
 */
export function endpointMac(endpointId: string, ipv4 = ""): string {
  const ip = ipv4.split("/")[0] ?? "";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    return ["02", "42", ...ip.split(".").map((b) => Number(b).toString(16).padStart(2, "0"))].join(":");
  }
  const h = createHash("sha256").update(endpointId).digest();
  const bytes = [0x02, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function short(id: string): string {
  return id.slice(0, 12);
}
