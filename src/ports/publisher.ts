/**
 * Published ports (`docker run -p`): Docker programs nothing for a remote driver (it only hands over
 * the bindings), so weave does what Docker's bridge driver does. ProgramExternalConnectivity (sent
 * for the container's gateway endpoint only) picks and holds the host ports, records them with the
 * endpoint and applies the nftables rules; RevokeExternalConnectivity, Leave and DeleteEndpoint take
 * them away. All or nothing: a refused binding leaves no reservation, record or rule behind.
 *
 * One owner: every change goes through the serial queue under one key (host ports are shared by all
 * networks). `converge` makes the reservations and the rules match the state; it runs at start and in
 * every Docker sync pass, so rules lost (a firewall reload) or reservations lost (weave restarted)
 * come back.
 */
import type { Json, JsonObject, KeyedSerialQueue, Logger } from "../core/index.js";
import { errorMessage, isWeaveError, WeaveError } from "../core/index.js";
import type { EndpointRecord, NetworkReader, PortBindingRecord, PortBindingStore } from "../store/index.js";
import { parsePortOptions } from "./parse.js";
import type { PortRange } from "./pick.js";
import {
  allocatedError,
  bindingsAt,
  candidatePorts,
  exhaustedError,
  findClash,
  requestFamilies,
} from "./pick.js";
import type { PortDataplane } from "./port-dataplane.js";
import type { PortReserver } from "./reserver.js";
import { reservationKey } from "./reserver.js";
import type { EndpointPortBinding, PortBinding, PortRequest, PortRule } from "./types.js";
import { describeBinding, PROTO_NUMBER } from "./types.js";

export interface PortPublisherDeps {
  /** Networks and endpoints, read-only; the port bindings (the publisher is their one writer). */
  state: NetworkReader & PortBindingStore;
  dataplane: PortDataplane;
  reserver: PortReserver;
  queue: KeyedSerialQueue;
  logger: Logger;
  now: () => number;
  /** Where host ports are picked when Docker asks for none (`-p 80`, `-P`). */
  ephemeral: PortRange;
  /**
   * Called (not awaited) when a port is refused because another endpoint publishes it: that endpoint
   * may belong to a container Docker lost without telling weave (dockerd killed), which the Docker
   * sync removes; Docker's restart policy then retries.
   */
  onAllocatedConflict?: () => void;
}

export interface EndpointRef {
  networkId: string;
  endpointId: string;
}

const PORTS_KEY = "\u0000ports";

export class PortPublisher {
  /** The last ephemeral port handed out (picks go round the range from here). */
  private last = 0;

  constructor(private readonly deps: PortPublisherDeps) {}

  /**
   * Refuses a Join with published ports on an internal network (Docker itself never asks an internal
   * network to publish, it just drops the ports). Throws WEAVE_BAD_REQUEST.
   */
  checkJoin(networkId: string, options: JsonObject): void {
    const network = this.deps.state.getNetwork(networkId);
    if (!network?.internal) return;
    const { requests } = parsePortOptions(options);
    if (requests.length === 0) return;
    const list = requests.map((r) => `${r.containerPort}/${r.proto}`).join(", ");
    throw new WeaveError(
      "WEAVE_BAD_REQUEST",
      `Network ${networkId.slice(0, 12)} is internal: it cannot publish ports (asked: ${list}); publish through a network that is not internal`,
    );
  }

  /** ProgramExternalConnectivity: publishes what `options` ask for; throws WEAVE_CONFLICT, WEAVE_BAD_REQUEST. */
  async program(ref: EndpointRef, options: JsonObject): Promise<void> {
    const { requests } = parsePortOptions(options);
    const { state, queue } = this.deps;
    await queue.run(PORTS_KEY, async () => {
      const ep = state.getEndpoint(ref.endpointId);
      if (!ep) {
        throw new WeaveError("WEAVE_NOT_FOUND", `Endpoint ${ref.endpointId.slice(0, 12)} not found`);
      }
      await this.dropLocked(ep.id);
      if (requests.length === 0) return;
      if (state.getNetwork(ep.networkId)?.internal) this.checkJoin(ep.networkId, options);
      const bindings = await this.resolveLocked(ep, requests);
      const now = this.deps.now();
      state.setPortBindings(
        ep.id,
        bindings.map((b) => ({ ...b, endpointId: ep.id, createdAt: now })),
      );
      try {
        await this.deps.dataplane.apply(this.rules());
      } catch (err) {
        await this.dropLocked(ep.id).catch(() => undefined);
        throw err;
      }
      this.deps.logger.info("ports published", {
        endpoint: ep.id,
        bindings: bindings.map((b) => `${describeBinding(b)}->${b.containerPort}`),
      });
    });
  }

  /** RevokeExternalConnectivity / Leave / DeleteEndpoint: unpublishes the endpoint's ports. */
  async revoke(ref: EndpointRef): Promise<void> {
    await this.deps.queue.run(PORTS_KEY, () => this.dropLocked(ref.endpointId));
  }

  /** The portmap for EndpointOperInfo, in Docker's JSON shape (types.PortBinding). */
  info(endpointId: string): Record<string, Json> {
    const { state } = this.deps;
    const ep = state.getEndpoint(endpointId);
    const bindings = state.listPortBindings(endpointId);
    if (!ep || bindings.length === 0) return {};
    return {
      "com.docker.network.portmap": bindings.map((b) => ({
        Proto: PROTO_NUMBER[b.proto],
        IP: containerIp(ep, b.family) ?? "",
        Port: b.containerPort,
        HostIP: b.hostIp,
        HostPort: b.hostPort,
        HostPortEnd: b.hostPort,
      })),
    };
  }

  /**
   * Makes reservations and rules match the state (bindings of containers that are gone leave with
   * their endpoint, which the Docker sync removes once Docker no longer lists it): holds every recorded
   * port (a port a process took meanwhile is logged, its rules stay), lets go of what
   * no record names, and re-applies the rules. Rejects WEAVE_DATAPLANE when the rules cannot be applied.
   */
  async converge(): Promise<void> {
    await this.deps.queue.run(PORTS_KEY, async () => {
      for (const b of this.deps.state.listPortBindings()) {
        await this.deps.reserver.reserve(b).catch((err: unknown) => {
          this.deps.logger.warning("cannot hold a published port", {
            binding: describeBinding(b),
            error: errorMessage(err),
          });
        });
      }
      await this.syncLocked();
    });
  }

  /**
   * Removes an endpoint's bindings from the state, then releases and re-applies. A container that
   * published nothing costs nothing (no nft run at every container start).
   */
  private async dropLocked(endpointId: string): Promise<void> {
    const had = this.deps.state.listPortBindings(endpointId).length > 0;
    if (had) {
      this.deps.state.setPortBindings(endpointId, []);
      this.deps.logger.info("ports unpublished", { endpoint: endpointId });
    }
    await this.syncLocked(had);
  }

  /**
   * Releases reservations no record names (e.g. of an endpoint deleted with its bindings) and applies
   * the rules; without `force`, the rules are applied only when a reservation was released.
   */
  private async syncLocked(force = true): Promise<void> {
    const wanted = new Set(this.deps.state.listPortBindings().map(reservationKey));
    let released = false;
    for (const b of this.deps.reserver.held()) {
      if (wanted.has(reservationKey(b))) continue;
      await this.deps.reserver.release(b);
      released = true;
    }
    if (force || released) await this.deps.dataplane.apply(this.rules());
  }

  /** Picks and holds a host port for each request; all or nothing. */
  private async resolveLocked(ep: EndpointRecord, requests: readonly PortRequest[]): Promise<PortBinding[]> {
    const taken: EndpointPortBinding[] = this.deps.state.listPortBindings();
    const mine: PortBinding[] = [];
    try {
      for (const req of requests) mine.push(...(await this.resolveOne(ep, req, taken, mine)));
    } catch (err) {
      for (const b of mine) await this.deps.reserver.release(b);
      throw err;
    }
    return mine;
  }

  private async resolveOne(
    ep: EndpointRecord,
    req: PortRequest,
    taken: readonly EndpointPortBinding[],
    mine: readonly PortBinding[],
  ): Promise<PortBinding[]> {
    if (req.hostIp === "::1") {
      throw new WeaveError(
        "WEAVE_UNSUPPORTED",
        `Cannot publish on [::1]: IPv6 loopback cannot be forwarded to a container`,
      );
    }
    const families = requestFamilies(req, { v4: ep.ipv4 !== null, v6: ep.ipv6 !== null });
    const fixed = req.hostPort !== 0 && req.hostPort === req.hostPortEnd;
    for (const port of candidatePorts(req, this.deps.ephemeral, this.last)) {
      const want = bindingsAt(req, families, port);
      const clash = want.find((b) => findClash(b, taken) || findClash(b, mine));
      if (clash) {
        if (fixed) {
          this.deps.onAllocatedConflict?.();
          throw allocatedError(clash, findClash(clash, taken));
        }
        continue;
      }
      const held: PortBinding[] = [];
      try {
        for (const b of want) {
          await this.deps.reserver.reserve(b);
          held.push(b);
        }
      } catch (err) {
        for (const b of held) await this.deps.reserver.release(b);
        if (fixed || !isWeaveError(err, "WEAVE_CONFLICT")) throw err;
        continue;
      }
      if (req.hostPort === 0) this.last = port;
      return want;
    }
    throw exhaustedError(req);
  }

  private rules(): PortRule[] {
    const { state } = this.deps;
    const rules: PortRule[] = [];
    for (const b of state.listPortBindings()) {
      const ep = state.getEndpoint(b.endpointId);
      const network = ep && state.getNetwork(ep.networkId);
      const ip = ep && containerIp(ep, b.family);
      if (!network || !ip) continue;
      rules.push({ ...strip(b), bridge: network.bridge, hostIf: ep.hostIf, containerIp: ip });
    }
    return rules;
  }
}

/** A recorded binding without its owner and creation time. */
function strip({
  endpointId: _endpointId,
  createdAt: _createdAt,
  ...binding
}: PortBindingRecord): PortBinding {
  return binding;
}

function containerIp(ep: EndpointRecord, family: 4 | 6): string | undefined {
  const cidr = family === 4 ? ep.ipv4 : ep.ipv6;
  return cidr ? cidr.split("/")[0] : undefined;
}
