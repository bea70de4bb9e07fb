/**
 * Versioned schema of the local state. Each entry runs once, in order, inside one transaction;
 * `PRAGMA user_version` records how far a database has come. Never edit a released migration:
 * append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: networks, endpoints, IPAM pools and addresses.
  `
  CREATE TABLE networks (
    id          TEXT PRIMARY KEY,
    bridge      TEXT NOT NULL UNIQUE,
    mtu         INTEGER NOT NULL,
    internal    INTEGER NOT NULL,
    ipv4        TEXT NOT NULL,   -- JSON IpamData[] as Docker sent it
    ipv6        TEXT NOT NULL,   -- JSON IpamData[]
    options     TEXT NOT NULL,   -- JSON of CreateNetwork Options
    created_at  INTEGER NOT NULL
  );
  CREATE TABLE endpoints (
    id           TEXT PRIMARY KEY,
    network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    host_if      TEXT NOT NULL UNIQUE,
    peer_if      TEXT NOT NULL UNIQUE,
    mac          TEXT NOT NULL,
    ipv4         TEXT,           -- CIDR, e.g. 10.32.0.2/24
    ipv6         TEXT,
    sandbox_key  TEXT,           -- set by Join, cleared by Leave
    created_at   INTEGER NOT NULL
  );
  CREATE INDEX endpoints_network ON endpoints(network_id);
  CREATE TABLE pools (
    id              TEXT PRIMARY KEY,
    family          INTEGER NOT NULL,
    pool            TEXT NOT NULL,
    sub_pool        TEXT,
    address_space   TEXT NOT NULL,
    options         TEXT NOT NULL,
    replay_pending  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
  );
  CREATE TABLE addresses (
    pool_id         TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    kind            TEXT NOT NULL,  -- gateway | endpoint
    replay_pending  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (pool_id, address)
  );
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  // 2: DNS records added by hand (weave dns-add), optionally tied to a container.
  `
  CREATE TABLE dns_records (
    fqdn          TEXT NOT NULL,   -- absolute, lower case, e.g. db.weave.local.
    address       TEXT NOT NULL,   -- canonical IPv4 or IPv6 address
    container_id  TEXT NOT NULL DEFAULT '',  -- '' when not tied to a container
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (fqdn, address, container_id)
  );
  CREATE INDEX dns_records_container ON dns_records(container_id);
  `,
  // 3: address blocks this host owns in the cluster (multi-host IPAM), per cluster network.
  `
  CREATE TABLE blocks (
    cluster_id  TEXT NOT NULL,   -- the network's cluster ID
    block       TEXT NOT NULL,   -- CIDR of the block, e.g. 10.32.0.16/28
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, block)
  );
  `,
  // 4: a DNS record added by hand may be seen by one network only (weave dns-add --net NAME).
  `
  CREATE TABLE dns_records_4 (
    fqdn          TEXT NOT NULL,
    address       TEXT NOT NULL,
    container_id  TEXT NOT NULL DEFAULT '',
    network       TEXT NOT NULL DEFAULT '',  -- network name; '' for every network
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (fqdn, address, container_id, network)
  );
  INSERT INTO dns_records_4 (fqdn, address, container_id, network, created_at)
    SELECT fqdn, address, container_id, '', created_at FROM dns_records;
  DROP TABLE dns_records;
  ALTER TABLE dns_records_4 RENAME TO dns_records;
  CREATE INDEX dns_records_container ON dns_records(container_id);
  `,
  // 5: host ports published by an endpoint (docker run -p), one row per address family.
  `
  CREATE TABLE port_bindings (
    endpoint_id     TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    proto           TEXT NOT NULL,     -- tcp | udp
    family          INTEGER NOT NULL,  -- 4 | 6
    host_ip         TEXT NOT NULL,     -- 0.0.0.0 / :: for every address, else one address
    host_port       INTEGER NOT NULL,
    container_port  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (proto, family, host_ip, host_port)
  );
  CREATE INDEX port_bindings_endpoint ON port_bindings(endpoint_id);
  `,
];
