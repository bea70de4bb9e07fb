/**
 * A harness resource that is one network namespace of its own (a switch, a router): destroyed by
 * deleting the namespace by its exact name, which takes its veths with it.
 */
import { spawnSync } from "node:child_process";
import { untrack, type Resource } from "./cleanup.js";
import { HarnessError, childEnv, run } from "./exec.js";
import { namedNetns } from "./procs.js";

export abstract class NetnsResource implements Resource {
  readonly cleanupPhase = 1;
  protected destroyed = false;

  /** `name`: the namespace; `kind`: what it is, for messages ("underlay", "router"). */
  constructor(
    readonly name: string,
    private readonly kind: string,
  ) {}

  /** Deletes the namespace (and with it every veth still in it). Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const del = await run(["ip", "netns", "delete", this.name]);
    untrack(this);
    if (del.code !== 0 && namedNetns(this.name) !== undefined) {
      throw new HarnessError(
        "WEAVE_E2E_CLEANUP",
        `Cannot delete ${this.kind} "${this.name}": ${del.stderr.trim()}`,
      );
    }
  }

  /** @internal Exit-time cleanup. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    spawnSync("ip", ["netns", "delete", this.name], { stdio: "ignore", env: childEnv() });
  }
}
