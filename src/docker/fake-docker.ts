/**
 * An in-memory DockerApi for unit tests: networks with their containers, a switch to make Docker
 * unreachable, and a record of every call.
 */
import { WeaveError } from "../core/index.js";
import type {
  CreateNetworkBody,
  DockerApi,
  DockerContainer,
  DockerContainerSummary,
  DockerNetwork,
  DockerNetworkEndpoint,
  DockerNetworkSummary,
} from "./types.js";

export class FakeDocker implements DockerApi {
  readonly networks = new Map<string, DockerNetwork>();
  /** Containers by ID, running or not. */
  readonly containers = new Map<string, DockerContainer>();
  readonly calls: string[] = [];
  reachable = true;
  private nextId = 1;

  /** Adds a network as Docker would report it; returns its ID. */
  addNetwork(n: Partial<DockerNetwork> & { Name: string; Driver: string }): string {
    const id = n.Id ?? (this.nextId++).toString(16).padStart(64, "0");
    this.networks.set(id, {
      Id: id,
      Name: n.Name,
      Driver: n.Driver,
      Internal: n.Internal ?? false,
      IPAM: n.IPAM ?? { Driver: "default", Config: [] },
      Options: n.Options ?? {},
      Containers: n.Containers ?? {},
    });
    return id;
  }

  /** Attaches a container's endpoint to a network. */
  addContainer(networkId: string, containerId: string, ep: DockerNetworkEndpoint): void {
    const n = this.networks.get(networkId);
    if (!n) throw new Error(`no network ${networkId}`);
    n.Containers = { ...(n.Containers ?? {}), [containerId]: ep };
  }

  private check(call: string): void {
    this.calls.push(call);
    if (!this.reachable) throw new WeaveError("WEAVE_DOCKER", `Cannot reach Docker (${call}): fake is down`);
  }

  /** Adds (or replaces) a container. */
  putContainer(c: DockerContainer): void {
    this.containers.set(c.Id, structuredClone(c));
  }

  async listContainers(): Promise<DockerContainerSummary[]> {
    this.check("listContainers");
    return [...this.containers.values()]
      .filter((c) => c.State.Running)
      .map((c) => ({ Id: c.Id, Names: [c.Name], State: "running" }));
  }

  async inspectContainer(id: string): Promise<DockerContainer> {
    this.check(`inspectContainer ${id.slice(0, 12)}`);
    const c = this.containers.get(id) ?? [...this.containers.values()].find((x) => x.Name === `/${id}`);
    if (!c)
      throw new WeaveError(
        "WEAVE_NOT_FOUND",
        `Docker API GET /containers/${id}/json failed (404): No such container`,
      );
    return structuredClone(c);
  }

  async ping(): Promise<void> {
    this.check("ping");
  }

  async version(): Promise<{ Version: string; ApiVersion: string }> {
    this.check("version");
    return { Version: "20.10.24", ApiVersion: "1.41" };
  }

  async listNetworks(filters?: Record<string, string[]>): Promise<DockerNetworkSummary[]> {
    this.check("listNetworks");
    return [...this.networks.values()]
      .filter((n) => !filters?.["name"] || filters["name"].some((x) => n.Name.includes(x)))
      .filter((n) => !filters?.["driver"] || filters["driver"].includes(n.Driver))
      .map((n) => ({
        Id: n.Id,
        Name: n.Name,
        Driver: n.Driver,
        Internal: n.Internal,
        IPAM: n.IPAM,
        Options: n.Options,
      }));
  }

  async inspectNetwork(id: string): Promise<DockerNetwork> {
    this.check(`inspectNetwork ${id.slice(0, 12)}`);
    const n = this.networks.get(id) ?? [...this.networks.values()].find((x) => x.Name === id);
    if (!n)
      throw new WeaveError(
        "WEAVE_NOT_FOUND",
        `Docker API GET /networks/${id} failed (404): network ${id} not found`,
      );
    return structuredClone(n);
  }

  async createNetwork(body: CreateNetworkBody): Promise<{ Id: string }> {
    this.check(`createNetwork ${body.Name}`);
    if ([...this.networks.values()].some((n) => n.Name === body.Name)) {
      throw new WeaveError(
        "WEAVE_DOCKER",
        `Docker API POST /networks/create failed (409): network with name ${body.Name} already exists`,
      );
    }
    const id = this.addNetwork({
      Name: body.Name,
      Driver: body.Driver,
      Internal: body.Internal ?? false,
      IPAM: { Driver: body.IPAM?.Driver ?? "default", Config: body.IPAM?.Config ?? [] },
      Options: body.Options ?? {},
    });
    return { Id: id };
  }

  async removeNetwork(id: string): Promise<void> {
    this.check(`removeNetwork ${id}`);
    const n = this.networks.get(id) ?? [...this.networks.values()].find((x) => x.Name === id);
    if (!n)
      throw new WeaveError(
        "WEAVE_NOT_FOUND",
        `Docker API DELETE /networks/${id} failed (404): no such network`,
      );
    if (Object.keys(n.Containers ?? {}).length > 0) {
      throw new WeaveError(
        "WEAVE_DOCKER",
        `Docker API DELETE /networks/${id} failed (403): error while removing network: network ${n.Name} id ${n.Id} has active endpoints`,
      );
    }
    this.networks.delete(n.Id);
  }
}
