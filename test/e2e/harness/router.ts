/**
 * A router between underlay segments: a namespace `wvr-<random>` with one veth into each segment's
 * switch (eth0, eth1... inside the router), the address <prefix>.253 on each, and IPv4 forwarding on.
 * Hosts on different segments (different /24s) then reach each other through it, as machines in two
 * racks or subnets do: each segment gets a route to every other segment via the router's address on
 * it ({@link Underlay.addRoute}), for the hosts attached before and after, and for the switch's own
 * namespace (where etcd runs).
 *
 * Design note: the router takes .253 and not .254 (the switch's address and the hosts' default
 * gateway) so that etcd, started on a switch's .254, and tests that use the switch as "the outside"
 * keep working unchanged; hosts get a specific route per other segment instead of a new default.
 */
import { randomBytes } from "node:crypto";
import { track } from "./cleanup.js";
import { HarnessError, runChecked } from "./exec.js";
import { NetnsResource } from "./netns-resource.js";
import type { Underlay } from "./underlay.js";

/** The last octet of the router's address on every segment. */
export const ROUTER_HOST_NUMBER = 253;

/** A router joining underlay segments; create it with {@link createRouter}. */
export class Router extends NetnsResource {
  /** The segments it joins, in the order given. */
  readonly segments: readonly Underlay[];

  /** @internal Use {@link createRouter}. */
  constructor(name: string, segments: readonly Underlay[]) {
    super(name, "router");
    this.segments = segments;
  }

  /** The router's address on `segment` (e.g. "192.168.199.253"). Throws when it does not join it. */
  addressOn(segment: Underlay): string {
    if (!this.segments.includes(segment))
      throw new HarnessError("WEAVE_E2E_SETUP", `Router "${this.name}" is not on "${segment.name}"`);
    return `${segment.prefix}.${ROUTER_HOST_NUMBER}`;
  }
}

/**
 * Creates a router joining `segments` (at least two, with different prefixes) and routes every
 * segment to every other one through it; see the module note. Resolves once the routes are in place.
 * Throws `WEAVE_E2E_SETUP` (after removing what it made) when the segments are unfit or `ip` fails.
 * Needs root. Tracked for `destroyAll()` and exit-time cleanup like hosts and switches.
 */
export async function createRouter(segments: readonly Underlay[]): Promise<Router> {
  const prefixes = new Set(segments.map((s) => s.prefix));
  if (segments.length < 2 || prefixes.size !== segments.length) {
    throw new HarnessError(
      "WEAVE_E2E_SETUP",
      `A router needs at least two segments with different prefixes, got: ${segments.map((s) => s.cidr).join(", ")}`,
    );
  }
  const id = randomBytes(3).toString("hex");
  const router = new Router(`wvr-${id}`, segments);
  track(router);
  try {
    await runChecked(["ip", "netns", "add", router.name]);
    const r = ["ip", "-n", router.name];
    await runChecked([...r, "link", "set", "lo", "up"]);
    await runChecked([
      "nsenter",
      `--net=/run/netns/${router.name}`,
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=1",
    ]);
    for (const [i, seg] of segments.entries()) {
      // The switch end, named after the router so that several routers can share a switch.
      const port = `r${i}${id}`;
      const ifname = `eth${i}`;
      await runChecked([
        "ip",
        "link",
        "add",
        port,
        "netns",
        seg.name,
        "type",
        "veth",
        "peer",
        "name",
        ifname,
        "netns",
        router.name,
      ]);
      await runChecked([
        "ip",
        "-n",
        seg.name,
        "link",
        "set",
        port,
        "mtu",
        String(seg.mtu),
        "master",
        "br0",
        "up",
      ]);
      await runChecked([...r, "link", "set", ifname, "mtu", String(seg.mtu), "up"]);
      await runChecked([...r, "addr", "add", `${router.addressOn(seg)}/24`, "dev", ifname]);
    }
    for (const seg of segments) {
      for (const other of segments) if (other !== seg) await seg.addRoute(other.cidr, router.addressOn(seg));
    }
  } catch (e) {
    await router.destroy().catch(() => undefined);
    throw e;
  }
  return router;
}
