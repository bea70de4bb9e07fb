/**
 * What the in-memory fakes (FakeDataplane, FakeOverlay) share: the log of the commands the real
 * adapter would have run, as text, and failure injection by command.
 */
import { WeaveError } from "../core/index.js";

/** A fake's command log with failure injection; the fakes extend it. */
export class CommandRecorder {
  /** Every command the real adapter would have run, in order. */
  readonly commands: string[] = [];
  private readonly failures: (string | RegExp)[] = [];

  /** Makes the next command matching `match` (substring or RegExp) fail with WEAVE_DATAPLANE. */
  failNext(match: string | RegExp): void {
    this.failures.push(match);
  }

  /** Records `command`; throws WEAVE_DATAPLANE instead when a failNext matches it (once each). */
  protected run(command: string): void {
    const i = this.failures.findIndex((m) => (typeof m === "string" ? command.includes(m) : m.test(command)));
    if (i >= 0) {
      this.failures.splice(i, 1);
      throw new WeaveError("WEAVE_DATAPLANE", `Command "${command}" failed (injected)`);
    }
    this.commands.push(command);
  }
}
