/**
 * The plugin protocol's routes: each validates its request, calls the driver or the IPAM, and
 * returns the JSON Docker expects. Error shapes are decided in one place (server.ts) by interface:
 * `{"Err": ...}` for NetworkDriver, `{"Error": ...}` for IpamDriver.
 */
import type { ClusterPort } from "../cluster/index.js";
import type { NetworkDriver } from "../driver/index.js";
import type { IpamData } from "../store/index.js";
import type { Prefix } from "../ipam/index.js";
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from "../ipam/index.js";
import type { Json } from "../core/index.js";
import type { PortPublisher } from "../ports/index.js";
import { asObject, Reader } from "./validate.js";

export type Interface = "Plugin" | "NetworkDriver" | "IpamDriver";

export interface Route {
  iface: Interface;
  handle(body: Reader): Promise<unknown>;
}

export interface RouteDeps {
  driver: NetworkDriver;
  /** Docker's IPAM calls go to `cluster.ipam` (which serialises its own calls); DeleteNetwork asks `beforeNetworkDelete` first. */
  cluster: Pick<ClusterPort, "ipam" | "beforeNetworkDelete">;
  /** Host route destinations that carved pools must avoid (read by the IPAM in turn). */
  hostRoutes(): Promise<Prefix[]>;
  /** Published ports (`docker run -p`); without it Program/RevokeExternalConnectivity answer 404. */
  ports?: PortPublisher;
}

type Add = (path: string, iface: Interface, handle: (r: Reader) => Promise<unknown>) => void;

function ipamData(r: Reader, name: string): IpamData[] {
  return r.array(name).map((entry: Json, i) => {
    const d = new Reader(r.method, asObject(r.method, entry, `${name}[${i}]`));
    const out: IpamData = { Pool: d.string("Pool", true) };
    const space = d.string("AddressSpace");
    if (space) out.AddressSpace = space;
    const gw = d.string("Gateway");
    if (gw) out.Gateway = gw;
    const aux = d.stringMap("AuxAddresses");
    if (Object.keys(aux).length > 0) out.AuxAddresses = aux;
    return out;
  });
}

/** Builds the route table. Paths not listed answer 404, which Docker reads as "not implemented". */
export function buildRoutes(deps: RouteDeps): Map<string, Route> {
  const routes = new Map<string, Route>();
  const add: Add = (path, iface, handle) => {
    routes.set(path, { iface, handle });
  };
  add("/Plugin.Activate", "Plugin", async () => ({ Implements: ["NetworkDriver", "IpamDriver"] }));
  networkRoutes(add, deps);
  endpointRoutes(add, deps);
  if (deps.ports) portRoutes(add, deps.ports);
  ipamRoutes(add, deps);
  return routes;
}

const ref = (r: Reader) => ({ networkId: r.id("NetworkID"), endpointId: r.id("EndpointID") });

function networkRoutes(add: Add, deps: RouteDeps): void {
  const { driver } = deps;

  add("/NetworkDriver.GetCapabilities", "NetworkDriver", async () => ({
    Scope: "local",
    ConnectivityScope: "local",
    GwAllocChecker: true,
  }));
  add("/NetworkDriver.GwAllocCheck", "NetworkDriver", async (r) => {
    r.object("Options");
    return { SkipIPv4: false, SkipIPv6: false };
  });
  add("/NetworkDriver.CreateNetwork", "NetworkDriver", async (r) => {
    await driver.createNetwork({
      networkId: r.id("NetworkID"),
      options: r.object("Options"),
      ipv4: ipamData(r, "IPv4Data"),
      ipv6: ipamData(r, "IPv6Data"),
    });
    return {};
  });
  add("/NetworkDriver.DeleteNetwork", "NetworkDriver", async (r) => {
    const id = r.id("NetworkID");
    await deps.cluster.beforeNetworkDelete(id);
    await driver.deleteNetwork(id);
    return {};
  });
}

function endpointRoutes(add: Add, deps: RouteDeps): void {
  const { driver } = deps;
  add("/NetworkDriver.CreateEndpoint", "NetworkDriver", async (r) => {
    const iface = r.child("Interface");
    return driver.createEndpoint({
      ...ref(r),
      address: iface.string("Address"),
      addressIPv6: iface.string("AddressIPv6"),
      macAddress: iface.string("MacAddress"),
      options: r.object("Options"),
    });
  });
  add("/NetworkDriver.DeleteEndpoint", "NetworkDriver", async (r) => {
    await driver.deleteEndpoint(ref(r));
    await deps.ports?.revoke(ref(r));
    return {};
  });
  add("/NetworkDriver.EndpointOperInfo", "NetworkDriver", async (r) => {
    const info = driver.endpointInfo(ref(r));
    return { Value: { ...info.Value, ...deps.ports?.info(ref(r).endpointId) } };
  });
  add("/NetworkDriver.Join", "NetworkDriver", async (r) => {
    const options = r.object("Options");
    deps.ports?.checkJoin(r.id("NetworkID"), options);
    return driver.join({ ...ref(r), sandboxKey: r.string("SandboxKey"), options });
  });
  add("/NetworkDriver.Leave", "NetworkDriver", async (r) => {
    await driver.leave(ref(r));
    await deps.ports?.revoke(ref(r));
    return {};
  });
}

function portRoutes(add: Add, ports: PortPublisher): void {
  add("/NetworkDriver.ProgramExternalConnectivity", "NetworkDriver", async (r) => {
    await ports.program(ref(r), r.object("Options"));
    return {};
  });
  add("/NetworkDriver.RevokeExternalConnectivity", "NetworkDriver", async (r) => {
    await ports.revoke(ref(r));
    return {};
  });
}

function ipamRoutes(add: Add, deps: RouteDeps): void {
  const ipam = deps.cluster.ipam;
  add("/IpamDriver.GetCapabilities", "IpamDriver", async () => {
    // Called whenever an engine (re)registers us: the only moment Docker replays its reservations.
    await ipam.beginReplay();
    return { RequiresMACAddress: false, RequiresRequestReplay: true };
  });
  add("/IpamDriver.GetDefaultAddressSpaces", "IpamDriver", async () => ({
    LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE,
    GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE,
  }));
  add("/IpamDriver.RequestPool", "IpamDriver", async (r) => {
    const req = {
      addressSpace: r.string("AddressSpace") || LOCAL_ADDRESS_SPACE,
      pool: r.string("Pool"),
      subPool: r.string("SubPool"),
      options: r.stringMap("Options"),
      v6: r.boolean("V6"),
    };
    const res = await ipam.requestPool(req, () => deps.hostRoutes());
    return { PoolID: res.poolId, Pool: res.pool, Data: {} };
  });
  add("/IpamDriver.ReleasePool", "IpamDriver", async (r) => {
    const id = r.string("PoolID", true);
    await ipam.releasePool(id);
    return {};
  });
  add("/IpamDriver.RequestAddress", "IpamDriver", async (r) => {
    const req = {
      poolId: r.string("PoolID", true),
      address: r.string("Address"),
      options: r.stringMap("Options"),
    };
    const res = await ipam.requestAddress(req);
    return { Address: res.address, Data: {} };
  });
  add("/IpamDriver.ReleaseAddress", "IpamDriver", async (r) => {
    const poolId = r.string("PoolID", true);
    const address = r.string("Address");
    await ipam.releaseAddress(poolId, address);
    return {};
  });
}
