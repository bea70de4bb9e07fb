/** What the status picture (svg.ts) shows: plain data, assembled by the daemon from its views. */

export interface PictureNetwork {
  id: string;
  /** Docker's name; "" when Docker could not be asked. */
  name: string;
  bridge: string;
  subnets: readonly string[];
  gateways: readonly string[];
  internal: boolean;
  endpoints: number;
}

export interface PictureContainer {
  /** Docker's name; "" when Docker does not list the endpoint. */
  container: string;
  containerId: string;
  /** The network's name (or the first 12 characters of its ID when it has none). */
  network: string;
  endpoint: string;
  ip: string;
  ipv6: string;
}

export interface PictureDns {
  domain: string;
  /** Addresses weaveDNS listens on (plain IPs). */
  addresses: readonly string[];
  entries: number;
  error: string;
}

/** What the picture shows: `weave status --json` and `weave ps` of this host, plus its peers. */
export interface StatusPicture {
  hostname: string;
  /** When the data was read (shown as is), e.g. an ISO 8601 time. */
  generatedAt: string;
  status: {
    version: string;
    pid: number;
    mtu: number;
    docker: { status: string; error: string };
    networks: readonly PictureNetwork[];
  };
  /** null when weaveDNS is off. */
  dns: PictureDns | null;
  containers: readonly PictureContainer[];
  peers: readonly { name: string; state: string }[];
}
