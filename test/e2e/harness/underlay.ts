/**
 * The underlay network between simulated hosts: a "switch" (a Linux bridge alone in its own network
 * namespace `wvu-...`) and one veth per attached host, named eth0, eth1... inside the host.
 * Addresses come from <prefix>.0/24 (default 192.168.199.0/24): hosts get .1, .2, ... in attach order
 * (up to .252), the switch's bridge has .254, the hosts' default gateway (there is nothing behind it),
 * and .253 is kept for a router to other segments (router.ts), reached through routes added with
 * {@link Underlay.addRoute}. No device is ever created in the machine's own network namespace.
 */
import { randomBytes } from "node:crypto";
import { track } from "./cleanup.js";
import { HarnessError, runChecked } from "./exec.js";
import { NetnsResource } from "./netns-resource.js";
import type { Host } from "./host.js";
import { namedNetns } from "./procs.js";

/** Options of {@link createUnderlay} and {@link connectHosts}. */
export interface UnderlayOptions {
  /** MTU of the bridge and every veth, in bytes (default 1500). */
  mtu?: number;
  /** First three octets of the /24 (default "192.168.199"). */
  prefix?: string;
}

/** An underlay switch; attach hosts to it. Create it with {@link createUnderlay}. */
export class Underlay extends NetnsResource {
  readonly mtu: number;
  readonly prefix: string;
  private nextHost = 1;
  /** Network namespaces of the hosts attached so far, with their interface on this switch. */
  private readonly attached: { netns: string; ifname: string }[] = [];
  /** Routes every host on this segment (and the switch) gets: destination CIDR and next hop. */
  private readonly routes: { to: string; via: string }[] = [];

  /** @internal Use {@link createUnderlay}. */
  constructor(name: string, mtu: number, prefix: string) {
    super(name, "underlay");
    this.mtu = mtu;
    this.prefix = prefix;
  }

  /** The switch's address, the hosts' default gateway (e.g. "192.168.199.254"). */
  get gateway(): string {
    return `${this.prefix}.254`;
  }

  /** The segment's subnet, e.g. "192.168.199.0/24". */
  get cidr(): string {
    return `${this.prefix}.0/24`;
  }

  /**
   * Routes `to` (a CIDR) via `via` (an address on this segment) on every host attached so far, on every
   * host attached later, and in the switch's own namespace (so that etcd, which runs there, answers
   * hosts on other segments). Idempotent (`ip route replace`). Throws `WEAVE_E2E_SETUP` when `ip` fails.
   */
  async addRoute(to: string, via: string): Promise<void> {
    if (this.destroyed) throw new HarnessError("WEAVE_E2E_SETUP", `Underlay "${this.name}" is destroyed`);
    this.routes.push({ to, via });
    await runChecked(["ip", "-n", this.name, "route", "replace", to, "via", via, "dev", "br0"]);
    for (const h of this.attached) {
      if (namedNetns(h.netns) === undefined) continue; // that host was destroyed meanwhile
      await runChecked(["ip", "-n", h.netns, "route", "replace", to, "via", via, "dev", h.ifname]);
    }
  }

  /**
   * Connects `host` to the switch with a veth (eth<n> inside the host) and gives it the next address;
   * adds a default route via the switch when the host has none. Returns the address (no prefix length).
   * Throws `WEAVE_E2E_SETUP` when the /24 is full or `ip` fails.
   */
  async attach(host: Host): Promise<string> {
    if (this.destroyed) throw new HarnessError("WEAVE_E2E_SETUP", `Underlay "${this.name}" is destroyed`);
    const n = this.nextHost++;
    if (n > 252) throw new HarnessError("WEAVE_E2E_SETUP", `Underlay "${this.name}" has no free address`);
    const port = `p${n}`;
    const ifname = `eth${host.links.length}`;
    const address = `${this.prefix}.${n}`;
    const sw = ["ip", "-n", this.name];
    const h = ["ip", "-n", host.name];
    await runChecked([
      "ip",
      "link",
      "add",
      port,
      "netns",
      this.name,
      "type",
      "veth",
      "peer",
      "name",
      ifname,
      "netns",
      host.name,
    ]);
    await runChecked([...sw, "link", "set", port, "mtu", String(this.mtu), "master", "br0", "up"]);
    await runChecked([...h, "link", "set", ifname, "mtu", String(this.mtu), "up"]);
    await runChecked([...h, "addr", "add", `${address}/24`, "dev", ifname]);
    const routes = await runChecked([...h, "route", "show", "default"]);
    if (routes.stdout.trim() === "") await runChecked([...h, "route", "add", "default", "via", this.gateway]);
    for (const r of this.routes)
      await runChecked([...h, "route", "replace", r.to, "via", r.via, "dev", ifname]);
    this.attached.push({ netns: host.name, ifname });
    host.links.push({ ifname, address, underlay: this.name });
    return address;
  }
}

/** Creates an underlay switch (a bridge `br0` in namespace `wvu-<random>`). Needs root. */
export async function createUnderlay(opts: UnderlayOptions = {}): Promise<Underlay> {
  const u = new Underlay(
    `wvu-${randomBytes(3).toString("hex")}`,
    opts.mtu ?? 1500,
    opts.prefix ?? "192.168.199",
  );
  track(u);
  try {
    await runChecked(["ip", "netns", "add", u.name]);
    const sw = ["ip", "-n", u.name];
    await runChecked([...sw, "link", "add", "br0", "mtu", String(u.mtu), "type", "bridge"]);
    await runChecked([...sw, "addr", "add", `${u.gateway}/24`, "dev", "br0"]);
    await runChecked([...sw, "link", "set", "br0", "up"]);
    await runChecked([...sw, "link", "set", "lo", "up"]);
  } catch (e) {
    await u.destroy().catch(() => undefined);
    throw e;
  }
  return u;
}

/**
 * Connects hosts `a` and `b` through a new underlay switch and returns it, e.g.
 * `await connectHosts(a, b, { mtu: 1400 })` gives a 192.168.199.1 and b 192.168.199.2 (`host.address`).
 * For more hosts, `createUnderlay()` once and pass it as `createHost({ underlay })` or call `attach`.
 */
export async function connectHosts(a: Host, b: Host, opts: UnderlayOptions = {}): Promise<Underlay> {
  const u = await createUnderlay(opts);
  for (const host of [a, b]) await u.attach(host);
  return u;
}
