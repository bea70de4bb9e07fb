/**
 * The checks a spec passes before the planners render it into command lines: every name, address,
 * MAC and number must be one the kernel takes and one that cannot change the meaning of a line
 * (`weave-a\nlink del eth0`). Pure; each check throws WEAVE_BAD_REQUEST naming the bad value.
 */
import { isIP } from "node:net";
import {
  INTERFACE_NAME_RULE,
  isInterfaceName,
  isMacAddress,
  LINK_MIN_MTU,
  MAX_MTU,
  WeaveError,
} from "../core/index.js";
import type { BridgeSpec, VethSpec } from "./types.js";

/** A WEAVE_BAD_REQUEST with `message`. */
export function bad(message: string): WeaveError {
  return new WeaveError("WEAVE_BAD_REQUEST", message);
}

/** An integer from `min` to `max`: `Invalid VNI 0: use 1-16777215`. */
export function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw bad(`Invalid ${what} ${value}: use ${min}-${max}`);
  }
}

/** A link MTU Linux accepts (LINK_MIN_MTU to MAX_MTU). */
export function checkMtu(mtu: number): void {
  checkInt("MTU", mtu, LINK_MIN_MTU, MAX_MTU);
}

/** An interface name (`what`: "interface name", "bridge name"): 1-15 of [A-Za-z0-9_.-]. */
export function checkInterfaceName(name: string, what = "interface name"): void {
  if (!isInterfaceName(name)) throw bad(`Invalid ${what} "${name}": ${INTERFACE_NAME_RULE}`);
}

/** A plain address of `family`. */
export function checkIp(what: string, ip: string, family: 4 | 6): void {
  if (isIP(ip) !== family) throw bad(`Invalid ${what} "${ip}": expected an IPv${family} address`);
}

function checkMac(mac: string | undefined): void {
  if (mac !== undefined && !isMacAddress(mac)) throw bad(`Invalid MAC "${mac}"`);
}

function checkCidr(cidr: string): void {
  const [addr = "", bits, extra] = cidr.split("/");
  const family = isIP(addr);
  const n = Number(bits);
  if (family === 0 || extra !== undefined || bits === undefined || !/^\d+$/.test(bits)) {
    throw bad(`Invalid address "${cidr}": expected CIDR such as 10.32.0.1/24`);
  }
  if (n > (family === 4 ? 32 : 128)) throw bad(`Invalid prefix length in "${cidr}"`);
}

/**
 * Checks that a bridge spec can be rendered into commands safely (name, MTU, MAC, CIDR addresses).
 * Throws WEAVE_BAD_REQUEST naming the bad value.
 */
export function validateBridgeSpec(spec: BridgeSpec): void {
  checkInterfaceName(spec.name);
  checkMtu(spec.mtu);
  checkMac(spec.mac);
  spec.addresses.forEach(checkCidr);
}

/** Checks a veth spec (names, bridge, MTU, MAC); throws WEAVE_BAD_REQUEST naming the bad value. */
export function validateVethSpec(spec: VethSpec): void {
  checkInterfaceName(spec.hostName);
  checkInterfaceName(spec.peerName);
  checkInterfaceName(spec.bridge);
  checkMtu(spec.mtu);
  if (spec.hostName === spec.peerName) throw bad(`Veth ends have the same name "${spec.hostName}"`);
  checkMac(spec.peerMac);
}
