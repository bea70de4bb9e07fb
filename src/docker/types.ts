/** The few Docker Engine API shapes weave uses (API 1.41, Docker 20.10 and later). */

export interface DockerNetworkSummary {
  Id: string;
  Name: string;
  Driver: string;
  Internal: boolean;
  IPAM: {
    Driver: string;
    Config:
      | { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[]
      | null;
  };
  Options: Record<string, string> | null;
}

export interface DockerNetworkEndpoint {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface DockerNetwork extends DockerNetworkSummary {
  Containers: Record<string, DockerNetworkEndpoint> | null;
}

export interface CreateNetworkBody {
  Name: string;
  Driver: string;
  CheckDuplicate?: boolean;
  Internal?: boolean;
  EnableIPv6?: boolean;
  IPAM?: {
    Driver: string;
    Config?: {
      Subnet?: string;
      IPRange?: string;
      Gateway?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }[];
    Options?: Record<string, string>;
  };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

/** What weave reads of a container (GET /containers/{id}/json). */
export interface DockerContainer {
  Id: string;
  /** With Docker's leading slash, e.g. "/db". */
  Name: string;
  State: { Running: boolean; Pid?: number };
  Config: { Hostname: string; Domainname: string };
  NetworkSettings: {
    Networks: Record<
      string,
      {
        NetworkID: string;
        EndpointID: string;
        IPAddress: string;
        GlobalIPv6Address: string;
        MacAddress: string;
        Aliases: string[] | null;
      }
    > | null;
  };
}

/** A running container as GET /containers/json lists it. */
export interface DockerContainerSummary {
  Id: string;
  Names: string[];
  State: string;
}

/** One message of GET /events. */
export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> | null };
  time: number;
  timeNano: number;
}

/** The Docker API port; errors reject with WeaveError code WEAVE_DOCKER (or WEAVE_NOT_FOUND for 404). */
export interface DockerApi {
  /** Running containers. */
  listContainers(): Promise<DockerContainerSummary[]>;
  inspectContainer(id: string): Promise<DockerContainer>;
  ping(): Promise<void>;
  version(): Promise<{ Version: string; ApiVersion: string }>;
  listNetworks(filters?: Record<string, string[]>): Promise<DockerNetworkSummary[]>;
  inspectNetwork(id: string): Promise<DockerNetwork>;
  createNetwork(body: CreateNetworkBody): Promise<{ Id: string }>;
  /** DELETE /networks/{id}; WEAVE_DOCKER when Docker refuses (e.g. containers still attached). */
  removeNetwork(id: string): Promise<void>;
}
