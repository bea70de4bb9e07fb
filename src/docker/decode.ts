/**
 * Decoders from Docker's JSON to the shapes of types.ts. What weave identifies things by (IDs,
 * names, drivers, an event's type and action) must be there; what Docker may leave out or send as
 * null gets the empty value its type allows, so an older or newer Docker still decodes. A wrong type
 * is an error (WEAVE_DOCKER, raised by the client).
 */
import type { Decoder, Fields } from "../core/index.js";
import { arrayOf, bool, fields, num, orElse, orNull, recordOf, str } from "../core/index.js";
import type {
  DockerContainer,
  DockerContainerSummary,
  DockerEvent,
  DockerNetwork,
  DockerNetworkEndpoint,
  DockerNetworkSummary,
} from "./types.js";

const text = orElse(str, "");
const stringMap = recordOf(str);

/** The string fields `keys` of `f`, "" when absent or null. */
function texts<K extends string>(f: Fields, keys: readonly K[]): Record<K, string> {
  return Object.fromEntries(keys.map((k) => [k, f.req(k, text)])) as Record<K, string>;
}

type IpamConfig = NonNullable<DockerNetworkSummary["IPAM"]["Config"]>[number];

const ipamConfig: Decoder<IpamConfig> = (v, at) => {
  const f = fields(v, at);
  return {
    ...f.opt("Subnet", str),
    ...f.opt("IPRange", str),
    ...f.opt("Gateway", str),
    ...f.opt("AuxiliaryAddresses", stringMap),
  };
};

function summaryOf(f: Fields): DockerNetworkSummary {
  const ipam = f.sub("IPAM");
  return {
    Id: f.req("Id", str),
    Name: f.req("Name", str),
    Driver: f.req("Driver", str),
    Internal: f.req("Internal", orElse(bool, false)),
    IPAM: { Driver: ipam.req("Driver", text), Config: ipam.req("Config", orNull(arrayOf(ipamConfig))) },
    Options: f.req("Options", orNull(stringMap)),
  };
}

/** One network of GET /networks. */
export const networkSummary: Decoder<DockerNetworkSummary> = (v, at) => summaryOf(fields(v, at));

const networkEndpoint: Decoder<DockerNetworkEndpoint> = (v, at) => {
  const f = fields(v, at);
  return {
    ...texts(f, ["Name", "MacAddress", "IPv4Address", "IPv6Address"]),
    EndpointID: f.req("EndpointID", str),
  };
};

/** GET /networks/{id}. */
export const network: Decoder<DockerNetwork> = (v, at) => {
  const f = fields(v, at);
  return { ...summaryOf(f), Containers: f.req("Containers", orNull(recordOf(networkEndpoint))) };
};

/** One container of GET /containers/json. */
export const containerSummary: Decoder<DockerContainerSummary> = (v, at) => {
  const f = fields(v, at);
  return {
    Id: f.req("Id", str),
    Names: f.req("Names", orElse(arrayOf(str), [])),
    State: f.req("State", text),
  };
};

type ContainerNetwork = NonNullable<DockerContainer["NetworkSettings"]["Networks"]>[string];

const containerNetwork: Decoder<ContainerNetwork> = (v, at) => {
  const f = fields(v, at);
  return {
    ...texts(f, ["NetworkID", "EndpointID", "IPAddress", "GlobalIPv6Address", "MacAddress"]),
    Aliases: f.req("Aliases", orNull(arrayOf(str))),
  };
};

/** GET /containers/{id}/json: the parts weave reads. */
export const container: Decoder<DockerContainer> = (v, at) => {
  const f = fields(v, at);
  const state = f.sub("State");
  const config = f.sub("Config");
  return {
    Id: f.req("Id", str),
    Name: f.req("Name", text),
    State: { Running: state.req("Running", orElse(bool, false)), ...state.opt("Pid", num) },
    Config: texts(config, ["Hostname", "Domainname"]),
    NetworkSettings: {
      Networks: f.sub("NetworkSettings").req("Networks", orNull(recordOf(containerNetwork))),
    },
  };
};

/** GET /version. */
export const version: Decoder<{ Version: string; ApiVersion: string }> = (v, at) => {
  const f = fields(v, at);
  return { Version: f.req("Version", str), ApiVersion: f.req("ApiVersion", str) };
};

/** POST /networks/create. */
export const created: Decoder<{ Id: string }> = (v, at) => ({ Id: fields(v, at).req("Id", str) });

/** One message of GET /events. */
export const event: Decoder<DockerEvent> = (v, at) => {
  const f = fields(v, at);
  const actor = f.sub("Actor");
  return {
    Type: f.req("Type", str),
    Action: f.req("Action", str),
    Actor: { ID: actor.req("ID", text), Attributes: actor.req("Attributes", orNull(stringMap)) },
    time: f.req("time", orElse(num, 0)),
    timeNano: f.req("timeNano", orElse(num, 0)),
  };
};
