/**
 * The real WireGuard data plane: the kernel's `wireguard` link where the kernel has one, else
 * Debian's userspace wireguard-go, configured with wireguard-tools (`wg`) and iproute2. Every process
 * goes through the injected Exec, wireguard-go included, so tests can run it all inside a scratch
 * network namespace.
 *
 * Design note: observe, plan (wireguard-planner.ts) and apply, as the iproute2 adapters do. A
 * device is created as a kernel link first; when the kernel has no WireGuard, wireguard-go makes it
 * (wireguard-go.ts: it runs as a daemon of its own, which a restarted weave adopts). The
 * configuration goes in with one `wg syncconf`, which changes only what differs.
 */
import { isWeaveError, WeaveError } from "../core/index.js";
import type { ExecResult } from "../core/index.js";
import { list, num, obj, parseJsonArray, str } from "./ip-json.js";
import { IprouteAdapter } from "./iproute-adapter.js";
import type { IprouteOptions } from "./iproute-adapter.js";
import { procProcessTable } from "./process-table.js";
import type { ProcessTable } from "./process-table.js";
import type { ReconcileReport } from "./types.js";
import {
  isWeaveWireguardName,
  normalizeInterfaceAddress,
  parseWireguardDump,
  peerStates,
  renderWireguardConfig,
} from "./wireguard-config.js";
import type { WireguardDump } from "./wireguard-config.js";
import {
  describeWireguardOp,
  isWireguardConfigOp,
  kernelCreateArgv,
  syncconfArgv,
  wireguardOpArgv,
  wireguardPlan,
} from "./wireguard-planner.js";
import type { ObservedWireguard, ObservedWireguardLink, WireguardOp } from "./wireguard-planner.js";
import { runTool, runWg, WireguardGo, WIREGUARD_INSTALL } from "./wireguard-go.js";
import type {
  WireguardDataplane,
  WireguardImplementation,
  WireguardPeerState,
  WireguardSpec,
} from "./wireguard-types.js";
import { logApplied } from "./applied-log.js";

/** Converts `ip -details -json link show` output into weave's WireGuard links. */
export function parseWireguardLinksJson(text: string): ObservedWireguardLink[] {
  return parseJsonArray(text, "ip -details -json link show")
    .filter((l) => isWeaveWireguardName(str(l["ifname"]) ?? ""))
    .map((l) => ({
      name: str(l["ifname"]) ?? "",
      kind: str(obj(l["linkinfo"])["info_kind"]) ?? "",
      mtu: num(l["mtu"]),
      up: list(l["flags"]).includes("UP"),
    }));
}

/** Converts `ip -json address show dev NAME` output into its addresses other than link-local ones. */
export function parseDeviceAddressesJson(text: string): string[] {
  return parseJsonArray(text, "ip -json address show").flatMap((l) =>
    list(l["addr_info"])
      .map(obj)
      .filter((a) => a["scope"] !== "link" && str(a["local"]) !== undefined)
      .map((a) => normalizeInterfaceAddress(`${str(a["local"])}/${num(a["prefixlen"])}`)),
  );
}

export interface WireguardDeviceOptions extends IprouteOptions {
  /** Where wireguard-go processes are found and signalled (default: this machine's /proc). */
  processes?: ProcessTable;
  /** How long a new device may take to answer `wg show` (default 5000 ms). */
  startTimeoutMs?: number;
  /** How long wireguard-go may take to exit once its device is deleted before it is signalled (default 2000 ms). */
  stopTimeoutMs?: number;
  /** Interval of those waits (default 20 ms). */
  pollMs?: number;
}

/** What `ip link add ... type wireguard` prints when the kernel has no WireGuard. */
const NO_KERNEL_WIREGUARD = /Unknown device type|not supported/i;

/** The WireguardDataplane on the kernel or wireguard-go. */
export class WireguardDevice extends IprouteAdapter implements WireguardDataplane {
  private readonly wireguardGo: WireguardGo;
  private name: string | undefined;
  private impl: WireguardImplementation | undefined;
  private wgPid: number | undefined;
  /** Devices this instance created (tells a reconcile that adopted a device from one that made it). */
  private creations = 0;

  constructor(options: WireguardDeviceOptions) {
    super(options);
    this.wireguardGo = new WireguardGo({
      exec: options.exec,
      logger: options.logger,
      processes: options.processes ?? procProcessTable(),
      startTimeoutMs: options.startTimeoutMs ?? 5000,
      stopTimeoutMs: options.stopTimeoutMs ?? 2000,
      pollMs: options.pollMs ?? 20,
    });
  }

  get implementation(): WireguardImplementation | undefined {
    return this.impl;
  }

  /** The PID of the device's wireguard-go, when it runs on wireguard-go and the process was found. */
  get pid(): number | undefined {
    return this.wgPid;
  }

  /** Reads weave's WireGuard links and, for `name`, its configuration and addresses. */
  async observe(name: string | undefined): Promise<ObservedWireguard> {
    const res = await this.run("ip", ["-details", "-json", "link", "show"], "list links");
    const links = parseWireguardLinksJson(res.stdout);
    const link = links.find((l) => l.name === name);
    if (name === undefined || link === undefined) return { links, addresses: [] };
    const dump = await this.dump(name, link.kind !== "wireguard");
    const addr = await this.run(
      "ip",
      ["-json", "address", "show", "dev", name],
      `list the addresses of "${name}"`,
    );
    return { links, ...(dump ? { dump } : {}), addresses: parseDeviceAddressesJson(addr.stdout) };
  }

  async reconcile(spec: WireguardSpec | undefined): Promise<ReconcileReport> {
    const plan = wireguardPlan(spec);
    if (spec?.name !== this.name) this.wgPid = undefined;
    this.name = spec?.name;
    let observed: ObservedWireguard | undefined;
    const creations = this.creations;
    const applied = await this.converge({
      observe: async () => (observed = await this.observe(spec?.name)),
      plan,
      apply: (ops) => this.apply(spec, ops),
      describe: describeWireguardOp,
      retrying: "Retrying WireGuard operations",
    });
    if (spec === undefined) {
      this.impl = undefined;
      return { applied };
    }
    if (this.creations === creations) {
      // adopted or unchanged: the implementation is what the device is
      const kind = observed?.links.find((l) => l.name === spec.name)?.kind;
      this.impl = kind === "wireguard" ? "kernel" : "wireguard-go";
    }
    if (this.impl === "wireguard-go" && this.wgPid === undefined) {
      this.wgPid = await this.wireguardGo.pid(spec.name);
    }
    return { applied };
  }

  async peers(): Promise<WireguardPeerState[]> {
    const name = this.name;
    if (name === undefined) return [];
    const dump = await this.dump(name, true);
    if (dump) return peerStates(dump);
    const link = await this.exec("ip", ["link", "show", "dev", name], { check: false });
    if (link.code !== 0) return [];
    throw new WeaveError(
      "WEAVE_DATAPLANE",
      `WireGuard device "${name}" does not answer "wg show ${name} dump"`,
    );
  }

  /**
   * `wg show NAME dump`; with `lenient`, undefined when the device does not answer (missing, its
   * wireguard-go gone or hung) instead of WEAVE_DATAPLANE.
   */
  private async dump(name: string, lenient: boolean): Promise<WireguardDump | undefined> {
    const args = ["show", name, "dump"];
    let res: ExecResult;
    try {
      res = await runWg(this.exec, args, { timeoutMs: 3000 });
    } catch (err) {
      if (lenient && isWeaveError(err, "WEAVE_TIMEOUT")) return undefined;
      throw err;
    }
    if (res.code === 0) return parseWireguardDump(res.stdout);
    if (lenient) return undefined;
    throw new WeaveError("WEAVE_DATAPLANE", `Cannot read WireGuard device "${name}": ${res.stderr.trim()}`);
  }

  private async apply(spec: WireguardSpec | undefined, ops: WireguardOp[]): Promise<string[]> {
    let synced = false;
    for (const op of ops) {
      if (op.op === "create-device") {
        await this.create(op.name);
      } else if (isWireguardConfigOp(op)) {
        if (synced || spec === undefined) continue;
        await this.syncconf(spec);
        synced = true;
      } else if (op.op === "delete-device") {
        await this.deleteLink(op.name, "WireGuard device");
        if (op.kind === "tun") await this.wireguardGo.stop(op.name);
      } else {
        const [file = "ip", ...args] = wireguardOpArgv(op);
        await this.run(file, args, describeWireguardOp(op));
      }
    }
    const applied = ops.map(describeWireguardOp);
    logApplied(this.logger, "WireGuard changed", applied);
    return applied;
  }

  /** `wg syncconf` of the whole configuration of `spec`, fed on stdin (it holds secrets). */
  private async syncconf(spec: WireguardSpec): Promise<void> {
    const notInstalled = (): string => `wg is not installed: ${WIREGUARD_INSTALL}`;
    const input = renderWireguardConfig(spec);
    const res = await runTool(this.exec, syncconfArgv(spec.name), notInstalled, { input });
    if (res.code !== 0) {
      const why = res.stderr.trim();
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot configure WireGuard device "${spec.name}": ${why}`);
    }
  }

  /** Creates device `name`: a kernel link, or wireguard-go when the kernel has no WireGuard. */
  private async create(name: string): Promise<void> {
    const [file = "ip", ...args] = kernelCreateArgv(name);
    const res = await this.exec(file, args, { check: false });
    this.creations++;
    if (res.code === 0) {
      this.impl = "kernel";
      this.wgPid = undefined;
      this.logger.info("WireGuard device created", { device: name, implementation: "kernel" });
      return;
    }
    if (!NO_KERNEL_WIREGUARD.test(res.stderr)) {
      throw new WeaveError(
        "WEAVE_DATAPLANE",
        `Cannot create WireGuard device "${name}": ${res.stderr.trim()}`,
      );
    }
    const started = performance.now();
    this.wgPid = await this.wireguardGo.start(name);
    this.impl = "wireguard-go";
    const ms = Math.round(performance.now() - started);
    this.logger.info("WireGuard device created", {
      device: name,
      implementation: "wireguard-go",
      pid: this.wgPid,
      ms,
    });
  }
}
