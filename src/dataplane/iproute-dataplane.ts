/**
 * The real data plane: iproute2 (`ip -json` to read, `ip -batch -` to write), `nft -f -` for weave's
 * tables and iptables for dockerd coexistence. Every process goes through the injected Exec, so tests can
 * run this adapter inside a scratch network namespace by wrapping commands in `nsenter --net=...`.
 *
 * Design note: each method observes the kernel, asks the pure planner for the difference and applies it.
 * A batch that fails (e.g. because something changed between observing and applying) is retried once
 * after observing again; deletes run one by one so that "Cannot find device" counts as success.
 */
import { randomBytes } from "node:crypto";
import { WeaveError } from "../core/index.js";
import { obj, parseJsonArray, str } from "./ip-json.js";
import { IprouteAdapter } from "./iproute-adapter.js";
import type { IprouteOptions } from "./iproute-adapter.js";
import { syncIptablesForward } from "./iptables-compat.js";
import { renderNftRuleset } from "./nft-rules.js";
import type { HostPolicy } from "./nft-rules.js";
import { bridgePlan, describeOp, isWeaveBridgeName, reconcilePlan, renderOp, vethPlan } from "./planner.js";
import type { DataplaneOp, LinkPlan, ObservedLink } from "./planner.js";
import type {
  BridgeSpec,
  Dataplane,
  DesiredState,
  NetworkPolicy,
  ReconcileMode,
  ReconcileReport,
  VethSpec,
} from "./types.js";
import { logApplied } from "./applied-log.js";

/**
 * Converts the output of `ip -json -details address show` into observed links. Link-local IPv6
 * addresses are left out: the kernel adds them by itself and weave never manages them.
 */
export function parseIpAddrJson(text: string): ObservedLink[] {
  return parseJsonArray(text, "ip -json -details address show").map((item) => {
    const o = obj(item);
    const flags = Array.isArray(o["flags"]) ? o["flags"] : [];
    const addresses = (Array.isArray(o["addr_info"]) ? o["addr_info"] : [])
      .map(obj)
      .filter((a) => a["scope"] !== "link" && typeof a["local"] === "string")
      .map((a) => `${String(a["local"])}/${String(a["prefixlen"])}`);
    const master = str(o["master"]);
    const mac = str(o["address"]);
    return {
      name: str(o["ifname"]) ?? "",
      kind: str(obj(o["linkinfo"])["info_kind"]),
      mtu: typeof o["mtu"] === "number" ? o["mtu"] : 0,
      up: flags.includes("UP"),
      addresses,
      ...(master !== undefined ? { master } : {}),
      ...(mac !== undefined ? { mac } : {}),
    };
  });
}

/**
 * Converts `ip -json route show` output into destination CIDRs, leaving out default routes and routes
 * through weave's bridges (and, for IPv6, link-local and multicast destinations).
 */
export function parseRoutesJson(text: string, family: 4 | 6): string[] {
  const out: string[] = [];
  for (const item of parseJsonArray(text, "ip -json route show")) {
    const r = obj(item);
    const dst = str(r["dst"]);
    const dev = str(r["dev"]);
    if (dst === undefined || dst === "default") continue;
    if (dev !== undefined && isWeaveBridgeName(dev)) continue;
    if (family === 6 && /^(fe[89ab]|ff)/i.test(dst)) continue;
    out.push(dst.includes("/") ? dst : `${dst}/${family === 4 ? 32 : 128}`);
  }
  return out;
}

/** The iproute2/nftables implementation of the Dataplane port. */
export class IprouteDataplane extends IprouteAdapter implements Dataplane {
  private readonly host: HostPolicy;

  /** `host`: what the host adds to the networks' policies (encryption between hosts). */
  constructor(options: IprouteOptions & { host?: HostPolicy }) {
    super(options);
    this.host = options.host ?? {};
  }

  /** Reads every link of the namespace with its kind, master, MTU, up flag, addresses and MAC. */
  async observeLinks(): Promise<ObservedLink[]> {
    const res = await this.run("ip", ["-json", "-details", "address", "show"], "list links");
    return parseIpAddrJson(res.stdout);
  }

  async ensureBridge(spec: BridgeSpec): Promise<void> {
    await this.convergeLinks(bridgePlan(spec));
  }

  async deleteBridge(name: string): Promise<void> {
    await this.deleteLink(name, "bridge");
  }

  async ensureVeth(spec: VethSpec): Promise<void> {
    await this.convergeLinks(vethPlan(spec));
  }

  async deleteVeth(hostName: string): Promise<void> {
    await this.deleteLink(hostName, "veth");
  }

  async applyPolicies(policies: NetworkPolicy[]): Promise<void> {
    const ruleset = renderNftRuleset(policies, this.host);
    await this.run("nft", ["-f", "-"], "apply nftables rules", ruleset);
    const ran = await syncIptablesForward(this.exec, this.logger, policies);
    for (const cmd of ran) this.logger.info("Updated the FORWARD chain", { command: cmd });
    if (policies.some((p) => !p.internal)) await this.ensureIpForward();
    this.logger.debug("Applied network policies", { bridges: policies.map((p) => p.bridge) });
  }

  async reconcile(desiredState: DesiredState, mode: ReconcileMode = "full"): Promise<ReconcileReport> {
    return { applied: await this.convergeLinks(reconcilePlan(desiredState, mode)) };
  }

  async hostRoutes(): Promise<string[]> {
    const v4 = await this.run("ip", ["-json", "route", "show", "table", "main"], "list routes");
    const routes = parseRoutesJson(v4.stdout, 4);
    // IPv6 may be disabled on the host; then there are simply no IPv6 routes.
    const v6 = await this.exec("ip", ["-6", "-json", "route", "show", "table", "main"], { check: false });
    if (v6.code === 0) routes.push(...parseRoutesJson(v6.stdout, 6));
    return routes;
  }

  /** Observes the links, plans and applies, retrying once (IprouteAdapter.converge). */
  private convergeLinks(plan: LinkPlan): Promise<string[]> {
    return this.converge({
      observe: () => this.observeLinks(),
      plan,
      apply: (ops) => this.apply(ops),
      describe: describeOp,
      retrying: "Retrying data-plane operations",
    });
  }

  private async apply(ops: DataplaneOp[]): Promise<string[]> {
    let batch: string[] = [];
    let batchOps: DataplaneOp[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const what = batchOps.map(describeOp).join(", ");
      await this.run("ip", ["-batch", "-"], what, batch.join("\n") + "\n");
      batch = [];
      batchOps = [];
    };
    for (const op of ops) {
      if (op.op === "delete-bridge" || op.op === "delete-veth") {
        await flush();
        await this.deleteLink(op.name, op.op === "delete-bridge" ? "bridge" : "veth");
      } else {
        // A fixed MAC for a new bridge (see the create-bridge op).
        batch.push(
          ...renderOp(op.op === "create-bridge" && op.mac === undefined ? { ...op, mac: randomMac() } : op),
        );
        batchOps.push(op);
      }
    }
    await flush();
    const applied = ops.map(describeOp);
    logApplied(this.logger, "Data plane changed", applied);
    return applied;
  }

  private async ensureIpForward(): Promise<void> {
    let res;
    try {
      res = await this.exec("sysctl", ["-qw", "net.ipv4.ip_forward=1"], { check: false });
    } catch (err) {
      const code = err instanceof Error ? (err.cause as { code?: unknown } | undefined)?.code : undefined;
      if (code !== "ENOENT") throw err;
    }
    if (res?.code === 0) return;
    const args = ["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"];
    const fallback = await this.exec("sh", args, { check: false });
    if (fallback.code === 0) return;
    // /proc/sys is read-only in a managed Docker plugin: fine when forwarding is on already.
    const current = await this.exec("cat", ["/proc/sys/net/ipv4/ip_forward"], { check: false }).catch(
      () => undefined,
    );
    if (current?.code === 0 && current.stdout.trim() === "1") return;
    throw new WeaveError(
      "WEAVE_DATAPLANE",
      `Cannot enable IPv4 forwarding (net.ipv4.ip_forward=1) with "sh ${args.join(" ")}" (exit ${fallback.code}): ${fallback.stderr.trim()}`,
    );
  }
}

/** A random unicast, locally administered MAC address (as Docker gives its bridges). */
export function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}
