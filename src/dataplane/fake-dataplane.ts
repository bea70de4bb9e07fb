/**
 * An in-memory Dataplane for unit tests. It keeps a small model of the kernel's links, plans with the
 * same pure planner as the real adapter, and records the commands the real adapter would run as text
 * (`ip link add weave-1 mtu 1450 type bridge`, `nft -f -`, ...), so tests can compare that text.
 */
import { WeaveError } from "../core/index.js";
import { CommandRecorder } from "./fake-commands.js";
import { renderNftRuleset } from "./nft-rules.js";
import type { HostPolicy } from "./nft-rules.js";
import { bridgePlan, describeOp, reconcilePlan, renderOp, vethPlan } from "./planner.js";
import type { DataplaneOp, ObservedLink } from "./planner.js";
import type {
  BridgeSpec,
  Dataplane,
  DesiredState,
  NetworkPolicy,
  ReconcileMode,
  ReconcileReport,
  VethSpec,
} from "./types.js";

/** A link of the fake kernel; `peer` names the other end of a veth while it is in this namespace. */
export interface FakeLink extends ObservedLink {
  peer?: string;
}

/** In-memory implementation of the Dataplane port that records its commands. */
export class FakeDataplane extends CommandRecorder implements Dataplane {
  /** The fake kernel's links by name. */
  readonly links = new Map<string, FakeLink>();
  /** The policies of the last applyPolicies call. */
  policies: NetworkPolicy[] = [];
  /** The nftables text of the last applyPolicies call ("" before the first). */
  ruleset = "";
  ipForward = false;
  /** What the host adds to the policies (the daemon's HostPolicy). */
  host: HostPolicy = {};
  private routes: string[] = [];
  private macCounter = 0;

  /** Sets what hostRoutes returns. */
  setHostRoutes(routes: string[]): void {
    this.routes = [...routes];
  }

  /** Adds a link as if someone else had created it (e.g. a foreign interface). */
  addLink(link: FakeLink): void {
    this.links.set(link.name, { ...link, addresses: [...link.addresses] });
  }

  /** Simulates Docker moving a veth's container end into a sandbox: it leaves this namespace. */
  movePeerOut(peerName: string): void {
    const peer = this.links.get(peerName);
    if (!peer) return;
    this.links.delete(peerName);
    const host = peer.peer !== undefined ? this.links.get(peer.peer) : undefined;
    if (host) delete host.peer;
  }

  async ensureBridge(spec: BridgeSpec): Promise<void> {
    this.apply(bridgePlan(spec)(this.observe()));
  }

  async deleteBridge(name: string): Promise<void> {
    this.run(`ip link del ${name}`);
    this.removeLink(name);
  }

  async ensureVeth(spec: VethSpec): Promise<void> {
    this.apply(vethPlan(spec)(this.observe()));
  }

  async deleteVeth(hostName: string): Promise<void> {
    this.run(`ip link del ${hostName}`);
    this.removeLink(hostName);
  }

  async applyPolicies(policies: NetworkPolicy[]): Promise<void> {
    const ruleset = renderNftRuleset(policies, this.host);
    this.run("nft -f -");
    this.ruleset = ruleset;
    this.policies = policies.map((p) => ({ ...p }));
    if (policies.some((p) => !p.internal)) {
      this.run("sysctl -qw net.ipv4.ip_forward=1");
      this.ipForward = true;
    }
  }

  async reconcile(desiredState: DesiredState, mode: ReconcileMode = "full"): Promise<ReconcileReport> {
    return { applied: this.apply(reconcilePlan(desiredState, mode)(this.observe())) };
  }

  async hostRoutes(): Promise<string[]> {
    return [...this.routes];
  }

  /** The fake kernel's links, as the real adapter would observe them. */
  private observe(): ObservedLink[] {
    return [...this.links.values()];
  }

  private apply(ops: DataplaneOp[]): string[] {
    for (const op of ops) {
      for (const line of renderOp(op)) this.run(`ip ${line}`);
      this.applyToModel(op);
    }
    return ops.map(describeOp);
  }

  private need(name: string): FakeLink {
    const link = this.links.get(name);
    if (!link) throw new WeaveError("WEAVE_DATAPLANE", `Cannot find device "${name}"`);
    return link;
  }

  private create(link: FakeLink): void {
    if (this.links.has(link.name)) {
      throw new WeaveError("WEAVE_DATAPLANE", `Cannot create "${link.name}": File exists`);
    }
    this.links.set(link.name, link);
  }

  private nextMac(): string {
    this.macCounter++;
    return `02:fa:ce:00:${((this.macCounter >> 8) & 0xff).toString(16).padStart(2, "0")}:${(this.macCounter & 0xff).toString(16).padStart(2, "0")}`;
  }

  private applyToModel(op: DataplaneOp): void {
    switch (op.op) {
      case "create-bridge":
        this.create({
          name: op.spec.name,
          kind: "bridge",
          mtu: op.spec.mtu,
          up: true,
          addresses: [...op.spec.addresses],
          mac: op.mac ?? this.nextMac(),
        });
        return;
      case "fix-bridge": {
        const b = this.need(op.name);
        if (op.mtu !== undefined) b.mtu = op.mtu;
        if (op.mac !== undefined) b.mac = op.mac;
        b.addresses = b.addresses.filter((a) => !op.delAddresses.includes(a)).concat(op.addAddresses);
        b.up = true;
        return;
      }
      case "create-veth": {
        const s = op.spec;
        this.need(s.bridge);
        if (this.links.has(s.peerName)) {
          throw new WeaveError("WEAVE_DATAPLANE", `Cannot create "${s.peerName}": File exists`);
        }
        this.create({
          name: s.hostName,
          kind: "veth",
          mtu: s.mtu,
          up: true,
          addresses: [],
          master: s.bridge,
        });
        this.links.set(s.peerName, {
          name: s.peerName,
          kind: "veth",
          mtu: s.mtu,
          up: false,
          addresses: [],
          mac: s.peerMac ?? this.nextMac(),
          peer: s.hostName,
        });
        this.need(s.hostName).peer = s.peerName;
        return;
      }
      case "fix-veth": {
        const h = this.need(op.hostName);
        if (op.mtu !== undefined) h.mtu = op.mtu;
        if (op.master !== undefined) h.master = this.need(op.master).name;
        h.up = true;
        if (op.peer) {
          const p = this.need(op.peer.name);
          if (op.peer.mtu !== undefined) p.mtu = op.peer.mtu;
          if (op.peer.mac !== undefined) p.mac = op.peer.mac;
        }
        return;
      }
      case "delete-bridge":
      case "delete-veth":
        this.removeLink(op.name);
        return;
    }
  }

  private removeLink(name: string): void {
    const link = this.links.get(name);
    if (!link) return;
    this.links.delete(name);
    if (link.peer !== undefined) this.links.delete(link.peer);
    for (const other of this.links.values()) if (other.master === name) delete other.master;
  }
}
