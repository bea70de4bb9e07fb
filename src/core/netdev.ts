/**
 * What a Linux network device may be called and configured with, as weave checks it before a name,
 * MAC address or MTU reaches a command line (ip, bridge, nft) or the kernel. Pure.
 *
 * Two MTU floors, because they guard different things:
 * - MIN_MTU (576) is what weave accepts from users (`--mtu`, `-o com.docker.network.driver.mtu`) and
 *   derives from the host (the default route's MTU minus the overlay's overhead): the datagram size
 *   every IPv4 host must accept (RFC 791), so a network below it is a mistake, not a choice.
 * - LINK_MIN_MTU (68) is the smallest MTU Linux gives a link that carries IPv4 (RFC 791's minimum
 *   header plus fragment); the data-plane specs are checked against it, because the planner only
 *   guards what can be rendered and applied, not what is sensible.
 */

/** An interface name Linux accepts and weave can put on a command line unquoted. */
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** What INTERFACE_NAME allows, for error messages. */
export const INTERFACE_NAME_RULE = "use 1-15 of [A-Za-z0-9_.-]";

/** A MAC address: six two-digit hexadecimal octets separated by colons, in either case. */
const MAC_ADDRESS = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** The smallest MTU weave accepts from users and derives from the host (see the module note). */
export const MIN_MTU = 576;

/** The smallest MTU Linux gives a link that carries IPv4 (see the module note). */
export const LINK_MIN_MTU = 68;

/** The largest MTU of a link (and the largest IP packet). */
export const MAX_MTU = 65535;

/** True when `name` is an interface name weave may use: 1-15 of [A-Za-z0-9_.-] (INTERFACE_NAME_RULE). */
export function isInterfaceName(name: string): boolean {
  return INTERFACE_NAME.test(name);
}

/** True when `mac` is six colon-separated hexadecimal octets, in either case. */
export function isMacAddress(mac: string): boolean {
  return MAC_ADDRESS.test(mac);
}
