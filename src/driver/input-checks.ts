/**
 * Strict checks of what Docker hands the driver: the subnets, gateways and aux addresses of
 * CreateNetwork, and the addresses and MAC of CreateEndpoint. Pure. Every refusal is a
 * WEAVE_BAD_REQUEST (or WEAVE_IPAM_ADDRESS_IN_USE for a taken address) whose message names the
 * field as Docker's Go struct spells it, with the docker flag it comes from where there is one.
 *
 * Why strictly: whatever the driver accepts is stored and later parsed again (the Docker sync,
 * the data plane, the status views); one stored value that does not parse broke the sync every
 * 10 s until the record aged out. And the IPAM's replay window can grant an address that a
 * running container holds, so the driver is the last place that can refuse a duplicate.
 */
import { isMacAddress, WeaveError } from "../core/index.js";
import type { Address, Family, Prefix } from "../ipam/index.js";
import {
  containsAddress,
  formatAddress,
  formatPrefix,
  isUsable,
  overlaps,
  parseAddress,
  parsePrefix,
} from "../ipam/index.js";
import type { EndpointRecord, IpamData, NetworkRecord } from "../store/index.js";

function invalid(field: string, value: string, reason: string): WeaveError {
  return new WeaveError("WEAVE_BAD_REQUEST", `Invalid ${field} "${value}": ${reason}`);
}

/** Parses an `address/length` string of one family, naming `field` in the error. */
function parseCidrField(field: string, value: string, family: Family): { address: Address; prefix: Prefix } {
  const slash = value.indexOf("/");
  if (slash < 0) throw invalid(field, value, `expected an IPv${family} address in CIDR form`);
  const address = parseAddressField(field, value.slice(0, slash), family, value);
  const lengthText = value.slice(slash + 1);
  const width = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > width) {
    throw invalid(field, value, `the prefix length must be 0 to ${width}`);
  }
  return { address, prefix: parsePrefix(value) };
}

/** Parses a plain address of one family; `shown` is the whole value quoted in the error. */
function parseAddressField(field: string, text: string, family: Family, shown = text): Address {
  let address: Address;
  try {
    address = parseAddress(text);
  } catch (err) {
    const reason = text.includes("%") ? "zone IDs are not allowed" : `not an IPv${family} address`;
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid ${field} "${shown}": ${reason}`, { cause: err });
  }
  if (address.family !== family) throw invalid(field, shown, `not an IPv${family} address`);
  return address;
}

/** A plain or CIDR address of one family (aux addresses come in either form). */
function parseAuxField(field: string, value: string, family: Family): Address {
  return value.includes("/")
    ? parseCidrField(field, value, family).address
    : parseAddressField(field, value, family);
}

/**
 * Validates IPv4Data/IPv6Data of CreateNetwork: each Pool a subnet of the family (no host bits
 * needed: Docker's own IPAM may send them canonical or not); the Gateway inside its pool with the
 * pool's prefix length, not its network or broadcast address; each aux address of the family,
 * inside the pool, not the gateway and not another aux address. Throws WEAVE_BAD_REQUEST.
 */
export function checkIpamData(data: readonly IpamData[], family: 4 | 6): void {
  const name = `IPv${family}Data`;
  data.forEach((d, i) => {
    const pool = parseCidrField(`${name}[${i}].Pool`, d.Pool, family).prefix;
    const subnet = formatPrefix(pool);
    let gateway: bigint | undefined;
    if (d.Gateway) {
      const field = `${name}[${i}].Gateway (--gateway)`;
      const gw = parseCidrField(field, d.Gateway, family);
      if (!containsAddress(pool, gw.address)) {
        throw invalid(field, d.Gateway, `not inside the subnet "${subnet}"`);
      }
      if (gw.prefix.bits !== pool.bits) {
        throw invalid(field, d.Gateway, `its prefix length is not the subnet's (/${pool.bits})`);
      }
      if (!isUsable(pool, gw.address.value)) {
        throw invalid(field, d.Gateway, `the network or broadcast address of "${subnet}"`);
      }
      gateway = gw.address.value;
    }
    const seen = new Map<bigint, string>();
    for (const [key, value] of Object.entries(d.AuxAddresses ?? {})) {
      const field = `${name}[${i}].AuxAddresses.${key} (--aux-address)`;
      const aux = parseAuxField(field, value, family);
      if (!containsAddress(pool, aux)) throw invalid(field, value, `not inside the subnet "${subnet}"`);
      if (!isUsable(pool, aux.value)) {
        throw invalid(field, value, `the network or broadcast address of "${subnet}"`);
      }
      if (aux.value === gateway) throw invalid(field, value, "it is the gateway");
      const other = seen.get(aux.value);
      if (other !== undefined) throw invalid(field, value, `the same address as aux address "${other}"`);
      seen.set(aux.value, key);
    }
  });
}

/** An endpoint's addresses and MAC after validation, in canonical form. */
export interface EndpointInterface {
  /** `address/length`, or null when Docker gave none. */
  ipv4: string | null;
  ipv6: string | null;
  /** Lower case, colon-separated; null when Docker gave none. */
  mac: string | null;
}

/**
 * Validates CreateEndpoint's Interface against the network: Address an IPv4 CIDR, AddressIPv6 an
 * IPv6 CIDR (no zone IDs), each inside one of the network's subnets of its family with that
 * subnet's prefix length, neither the network's gateway nor its network or broadcast address;
 * MacAddress six octets, unicast and not all zero. Throws WEAVE_BAD_REQUEST naming the field.
 */
export function checkEndpointInterface(
  network: NetworkRecord,
  iface: { address: string; addressIPv6: string; macAddress: string },
): EndpointInterface {
  return {
    ipv4: iface.address === "" ? null : endpointAddress(network, "Interface.Address", iface.address, 4),
    ipv6:
      iface.addressIPv6 === ""
        ? null
        : endpointAddress(network, "Interface.AddressIPv6", iface.addressIPv6, 6),
    mac: iface.macAddress === "" ? null : checkMac("Interface.MacAddress", iface.macAddress),
  };
}

function endpointAddress(network: NetworkRecord, field: string, value: string, family: Family): string {
  const { address, prefix } = parseCidrField(field, value, family);
  const data = family === 4 ? network.ipv4 : network.ipv6;
  if (data.length === 0) throw invalid(field, value, `the network has no IPv${family} subnet`);
  const home = data.find((d) => containsAddress(parsePrefix(d.Pool), address));
  if (!home) {
    const subnets = data.map((d) => formatPrefix(parsePrefix(d.Pool))).join(", ");
    throw invalid(field, value, `not inside the network's subnets (${subnets})`);
  }
  const pool = parsePrefix(home.Pool);
  if (prefix.bits !== pool.bits) {
    throw invalid(field, value, `its prefix length is not the subnet's (/${pool.bits})`);
  }
  if (!isUsable(pool, address.value)) {
    throw invalid(field, value, `the network or broadcast address of "${formatPrefix(pool)}"`);
  }
  if (home.Gateway && parseAddress(home.Gateway.split("/")[0] ?? "").value === address.value) {
    throw invalid(field, value, "it is the network's gateway");
  }
  return `${formatAddress(address)}/${prefix.bits}`;
}

/** Validates a MAC address (`aa:bb:cc:dd:ee:ff` or with dashes); returns it lower case with colons. */
export function checkMac(field: string, mac: string): string {
  const normal = mac.toLowerCase().replaceAll("-", ":");
  if (!isMacAddress(normal)) {
    throw invalid(
      field,
      mac,
      "not a MAC address (expected six hexadecimal octets such as 02:42:0a:20:00:02)",
    );
  }
  if ((parseInt(normal.slice(0, 2), 16) & 1) === 1) throw invalid(field, mac, "a multicast address");
  if (normal === "00:00:00:00:00:00") throw invalid(field, mac, "the all-zero address");
  return normal;
}

/**
 * Throws WEAVE_IPAM_ADDRESS_IN_USE when another endpoint of the network (a different ID: the same
 * endpoint created again is Docker retrying, not a conflict) holds one of `iface`'s addresses.
 */
export function checkAddressesFree(
  endpointId: string,
  iface: EndpointInterface,
  others: readonly EndpointRecord[],
): void {
  const checks: [string, string | null, (ep: EndpointRecord) => string | null][] = [
    ["Interface.Address", iface.ipv4, (ep) => ep.ipv4],
    ["Interface.AddressIPv6", iface.ipv6, (ep) => ep.ipv6],
  ];
  for (const [field, mine, theirs] of checks) {
    if (mine === null) continue;
    const value = parseAddress(mine.split("/")[0] ?? "").value;
    for (const ep of others) {
      const other = theirs(ep);
      if (ep.id === endpointId || other === null) continue;
      let otherValue: bigint;
      try {
        otherValue = parseAddress(other.split("/")[0] ?? "").value;
      } catch {
        continue; // a record from before these checks; it cannot hold a valid address
      }
      if (otherValue === value) {
        throw new WeaveError(
          "WEAVE_IPAM_ADDRESS_IN_USE",
          `${field} "${mine.split("/")[0] ?? ""}" is already in use by endpoint ${ep.id.slice(0, 12)} on this network`,
        );
      }
    }
  }
}

/**
 * Throws WEAVE_IPAM_POOL_OVERLAP when a subnet of the network being created overlaps a subnet of
 * another weave network on this host. Weave's IPAM refuses that already, except inside a replay
 * window (a stray GetCapabilities lets a re-request of a pool through as Docker re-reserving it):
 * the driver's own record of which network holds a subnet closes that door.
 */
export function checkSubnetsFree(
  networkId: string,
  data: readonly IpamData[],
  others: readonly NetworkRecord[],
): void {
  for (const mine of data) {
    const pool = parsePrefix(mine.Pool);
    for (const n of others) {
      if (n.id === networkId) continue;
      for (const theirs of [...n.ipv4, ...n.ipv6]) {
        let other: Prefix;
        try {
          other = parsePrefix(theirs.Pool);
        } catch {
          continue; // a record from before these checks
        }
        if (overlaps(pool, other)) {
          throw new WeaveError(
            "WEAVE_IPAM_POOL_OVERLAP",
            `Subnet "${formatPrefix(pool)}" overlaps subnet "${formatPrefix(other)}" of weave network ${n.id.slice(0, 12)}`,
          );
        }
      }
    }
  }
}
