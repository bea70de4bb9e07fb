/**
 * A simulated Docker host: a network namespace `wve-...` plus a private mount namespace with a fresh
 * tmpfs `/run`, a network-namespace-correct `/sys`, and its own `/var/lib/docker`, `/var/lib/weave` and
 * `/etc/docker` (bind mounts of directories under os.tmpdir()/weave-e2e/<name>). dockerd and weave run
 * there with their DEFAULT paths (`/var/run/docker.sock`, `/run/docker/plugins/weave.sock`), as a user
 * would run them.
 *
 * Design note: the mount namespace is held by a small keeper process (`sleep infinity`, its PID is
 * `nsPid`) rather than by dockerd, so dockerd can be killed and restarted while the host's /run, the
 * weave daemon and its plugin socket stay, like on a real machine where dockerd restarts.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { track, untrack, type Resource } from "./cleanup.js";
import { createNetns, startKeeper } from "./keeper.js";
import {
  HarnessError,
  childEnv,
  run,
  settlesWithin,
  sleep,
  type ExecOptions,
  type ExecResult,
} from "./exec.js";
import { REPO_ROOT, TEST_IMAGE, buildTestImage } from "./image.js";
import {
  isAlive,
  killAll,
  namedNetns,
  namespaceOf,
  processesIn,
  signalPid,
  statOf,
  waitForExit,
} from "./procs.js";
import type { Underlay } from "./underlay.js";

/** The weave CLI every host runs (a shell wrapper around dist/cli/main.js). */
export const WEAVE_BIN = join(REPO_ROOT, "bin", "weave");

/** Where host directories live: os.tmpdir()/weave-e2e/<netns name>. */
export const HOSTS_DIR = join(tmpdir(), "weave-e2e");

/** Options of {@link createHost}. */
export interface HostOptions {
  /** Short label (letters/digits, up to 8) put into the namespace name, e.g. "a" gives `wve-a-1f2e3d`. */
  name?: string;
  /** Underlay switch(es) to attach before dockerd starts; the first one also gets the default route. */
  underlay?: Underlay | readonly Underlay[];
  /** Extra dockerd flags (default: none, i.e. dockerd's defaults, iptables on). */
  dockerdArgs?: readonly string[];
  /** How long to wait for `docker info` to answer, in ms (default 60 000). */
  readyTimeoutMs?: number;
}

/** One underlay interface of a host. */
export interface UnderlayLink {
  ifname: string;
  address: string;
  underlay: string;
}

/**
 * Creates a host and starts its dockerd, resolving once `docker info` answers (about 1-3 s).
 * Throws a HarnessError (`WEAVE_E2E_SETUP` or `WEAVE_E2E_DOCKERD`, with dockerd's log) after removing
 * whatever it had made. Needs root. The host is tracked for `destroyAll()` and for exit-time cleanup.
 */
export async function createHost(opts: HostOptions = {}): Promise<Host> {
  const label = (opts.name ?? "")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .slice(0, 8);
  const rand = randomBytes(3).toString("hex");
  const host = new Host(label === "" ? `wve-${rand}` : `wve-${label}-${rand}`, opts.dockerdArgs ?? []);
  try {
    await host.setup();
    const underlays =
      opts.underlay === undefined ? [] : Array.isArray(opts.underlay) ? opts.underlay : [opts.underlay];
    for (const u of underlays as readonly Underlay[]) await u.attach(host);
    await host.startDockerd(opts.readyTimeoutMs);
  } catch (e) {
    await host.destroy().catch(() => undefined);
    throw e;
  }
  return host;
}

/** A simulated Docker host; see the module note. Create it with {@link createHost}. */
export class Host implements Resource {
  readonly cleanupPhase = 0;
  /** Network namespace name (also under /run/netns). */
  readonly name: string;
  /** Host directory with lib-docker, lib-weave, etc-docker and the logs (dockerd.log, keeper.log). */
  readonly dir: string;
  /** Underlay interfaces, in attach order. */
  readonly links: UnderlayLink[] = [];
  private readonly dockerdArgs: readonly string[];
  private keeper: ChildProcess | undefined;
  private netId: string | undefined;
  private mntId: string | undefined;
  private dockerd: ChildProcess | undefined;
  private dockerdDone: Promise<void> | undefined;
  private weaveUsed = false;
  private destroyed = false;

  /** @internal Use {@link createHost}. */
  constructor(name: string, dockerdArgs: readonly string[]) {
    this.name = name;
    this.dir = join(HOSTS_DIR, name);
    this.dockerdArgs = dockerdArgs;
  }

  /** PID of the keeper process whose mount namespace is the host's. */
  get nsPid(): number {
    const pid = this.keeper?.pid;
    if (pid === undefined || this.destroyed)
      throw new HarnessError("WEAVE_E2E_SETUP", `Host "${this.name}" is not running`);
    return pid;
  }

  /** PID of the running dockerd, or undefined when it is stopped. */
  get dockerdPid(): number | undefined {
    return this.dockerd?.pid;
  }

  /** First underlay address (e.g. "192.168.199.1"); throws when the host has no underlay. */
  get address(): string {
    const link = this.links[0];
    if (link === undefined)
      throw new HarnessError("WEAVE_E2E_SETUP", `Host "${this.name}" has no underlay link`);
    return link.address;
  }

  /**
   * Path, seen from outside, of `path` inside the host's mount namespace (via /proc/<nsPid>/root).
   * Absolute symlinks on the way resolve against the machine's root: use /run, not /var/run.
   */
  rootPath(path: string): string {
    return `/proc/${this.nsPid}/root${path.startsWith("/") ? path : `/${path}`}`;
  }

  /** Runs `argv` inside the host's network and mount namespaces (nsenter), with DOCKER_API_VERSION=1.41. */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const env = {
      DOCKER_API_VERSION: process.env.DOCKER_API_VERSION ?? "1.41",
      DOCKER_HOST: undefined,
      DOCKER_CONTEXT: undefined,
      DOCKER_TLS_VERIFY: undefined,
      DOCKER_CERT_PATH: undefined,
      ...opts.env,
    };
    return run([...this.nsenter(), ...argv], { ...opts, env });
  }

  /** Runs the docker CLI against this host's dockerd (`/var/run/docker.sock` inside the host). */
  docker(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(["docker", ...args], opts);
  }

  /** Runs bin/weave inside the host. */
  weave(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.weaveUsed = true;
    return this.exec([WEAVE_BIN, ...args], opts);
  }

  /** Runs `sh -c cmd` inside the host. */
  sh(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(["sh", "-c", cmd], opts);
  }

  /** Loads {@link TEST_IMAGE} into this host's dockerd (building the cached archive on first use). */
  async loadTestImage(): Promise<void> {
    if ((await this.docker(["image", "inspect", TEST_IMAGE])).code === 0) return;
    const archive = await buildTestImage();
    await this.docker(["load", "-i", archive], { check: true });
  }

  /** Last `lines` lines of this host's dockerd log, for failure messages. */
  async dockerdLog(lines = 40): Promise<string> {
    const text = await readFile(join(this.dir, "dockerd.log"), "utf8").catch(() => "");
    return text
      .split("\n")
      .slice(-lines - 1)
      .join("\n");
  }

  /** @internal Creates the namespaces and directories; called by createHost. */
  async setup(): Promise<void> {
    track(this);
    this.netId = await createNetns(this.name);
    this.keeper = await startKeeper(this.name, this.dir);
    this.mntId = namespaceOf(this.nsPid, "mnt");
  }

  /**
   * Starts dockerd (again) with the host's data, resolving once `docker info` answers.
   * Throws `WEAVE_E2E_DOCKERD` with the log tail when it exits or does not answer within `timeoutMs`.
   */
  async startDockerd(timeoutMs = 60_000): Promise<void> {
    if (this.dockerd !== undefined)
      throw new HarnessError("WEAVE_E2E_DOCKERD", `dockerd of "${this.name}" is already running`);
    const log = openSync(join(this.dir, "dockerd.log"), "a");
    let child: ChildProcess;
    try {
      // nsenter execs dockerd (no fork for net/mnt), so child.pid is dockerd's PID.
      child = spawn("nsenter", [...this.nsenter().slice(1), "dockerd", ...this.dockerdArgs], {
        stdio: ["ignore", log, log],
        env: childEnv({ DOCKER_HOST: undefined }),
      });
    } finally {
      closeSync(log);
    }
    child.unref();
    this.dockerd = child;
    this.dockerdDone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    let exited = false;
    void this.dockerdDone.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited) {
        this.dockerd = undefined;
        throw new HarnessError(
          "WEAVE_E2E_DOCKERD",
          `dockerd of "${this.name}" exited:\n${await this.dockerdLog()}`,
        );
      }
      const info = await this.docker(["info", "--format", "{{.ID}}"], { timeoutMs: 10_000 }).catch(
        () => undefined,
      );
      if (info?.code === 0) return;
      if (Date.now() > deadline) {
        await this.stopDockerd({ signal: "SIGKILL" });
        throw new HarnessError(
          "WEAVE_E2E_DOCKERD",
          `dockerd of "${this.name}" did not answer within ${timeoutMs} ms:\n${await this.dockerdLog()}`,
        );
      }
      await sleep(100);
    }
  }

  /**
   * Stops dockerd with `signal` (default SIGTERM) and waits for it to exit; after SIGTERM it waits up
   * to `timeoutMs` (default 60 000, dockerd first stops containers) and then SIGKILLs it.
   * With SIGKILL, containers and their shims may survive, as on a real crash. No-op when stopped.
   */
  async stopDockerd(opts: { signal?: "SIGTERM" | "SIGKILL"; timeoutMs?: number } = {}): Promise<void> {
    const child = this.dockerd;
    const done = this.dockerdDone;
    if (child === undefined || done === undefined) return;
    const timeout = (ms: number): Promise<boolean> => settlesWithin(done, ms);
    child.kill(opts.signal ?? "SIGTERM");
    if (!(await timeout(opts.timeoutMs ?? 60_000))) {
      child.kill("SIGKILL");
      if (!(await timeout(10_000))) {
        throw new HarnessError(
          "WEAVE_E2E_DOCKERD",
          `dockerd of "${this.name}" (pid ${child.pid}) does not exit`,
        );
      }
    }
    this.dockerd = undefined;
    this.dockerdDone = undefined;
    if (!this.destroyed) await this.forgetDeadContainerd();
  }

  /**
   * After a dockerd crash its containerd dies too (parent-death signal) and stays a zombie until PID 1
   * reaps it. A dockerd started meanwhile finds the PID in containerd.pid "running", waits for its
   * socket and fails. Where PID 1 reaps slowly (or never, in some sandboxes), remove the stale PID file
   * so the next dockerd starts a fresh containerd, as it would on a machine with systemd.
   */
  private async forgetDeadContainerd(): Promise<void> {
    const pidFile = this.rootPath("/run/docker/containerd/containerd.pid");
    const pid = Number.parseInt(await readFile(pidFile, "utf8").catch(() => ""), 10);
    if (!Number.isInteger(pid) || pid <= 0) return;
    await waitForExit([pid], 2000); // true once gone or a zombie; a live, adopted containerd is fine too
    if (statOf(pid)?.state === "Z") await rm(pidFile, { force: true });
  }

  /**
   * Removes the host: removes its containers, stops weave (`weave stop`, then its PID files in
   * /run/weave), stops dockerd, SIGKILLs whatever still runs in its namespaces (and descendants),
   * then deletes the namespace and directory by name. Idempotent. Rejects with `WEAVE_E2E_CLEANUP`
   * if something could not be removed, after trying everything.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const keeperAlive = this.keeper?.pid !== undefined && isAlive(this.keeper.pid);
    const problems: string[] = [];
    if (keeperAlive && this.dockerd !== undefined) {
      const ids = await this.docker(["ps", "-aq"], { timeoutMs: 30_000 }).catch(() => undefined);
      const list = ids?.stdout.split("\n").filter((s) => s !== "") ?? [];
      if (list.length > 0)
        await this.docker(["rm", "-f", "-v", ...list], { timeoutMs: 60_000 }).catch(() => undefined);
    }
    if (keeperAlive && (this.weaveUsed || this.weavePids().length > 0) && existsSync(WEAVE_BIN)) {
      await this.weave(["stop"], { timeoutMs: 30_000 }).catch(() => undefined);
      const pids = this.weavePids();
      for (const pid of pids) signalPid(pid, "SIGTERM");
      if (!(await waitForExit(pids, 10_000))) await killAll(pids);
    }
    await this.stopDockerd().catch((e: unknown) => problems.push(String(e)));
    this.destroyed = true;
    const keeperPid = this.keeper?.pid;
    const rest = processesIn(this.netId, this.mntId, keeperPid === undefined ? [] : [keeperPid]);
    if (!(await killAll(rest))) problems.push(`processes ${rest.join(",")} do not exit`);
    if (keeperPid !== undefined && !(await killAll([keeperPid])))
      problems.push(`keeper ${keeperPid} does not exit`);
    const del = await run(["ip", "netns", "delete", this.name]);
    if (del.code !== 0 && namedNetns(this.name) !== undefined)
      problems.push(`ip netns delete: ${del.stderr.trim()}`);
    await rm(this.dir, { recursive: true, force: true }).catch((e: unknown) => problems.push(String(e)));
    untrack(this);
    if (problems.length > 0) {
      throw new HarnessError(
        "WEAVE_E2E_CLEANUP",
        `Cannot fully remove host "${this.name}": ${problems.join("; ")}`,
      );
    }
  }

  /** @internal Exit-time cleanup: SIGKILL everything in the namespaces, delete them and the directory. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const pids = processesIn(this.netId, this.mntId);
    for (const pid of pids) signalPid(pid, "SIGKILL");
    const deadline = Date.now() + 3000;
    while (pids.some(isAlive) && Date.now() < deadline)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    spawnSync("ip", ["netns", "delete", this.name], { stdio: "ignore", env: childEnv() });
    rmSync(this.dir, { recursive: true, force: true });
  }

  private nsenter(): string[] {
    return ["nsenter", `--net=/run/netns/${this.name}`, `--mount=/proc/${this.nsPid}/ns/mnt`, "--"];
  }

  /** Live weave daemons named by PID files in the host's /run/weave, restricted to this host. */
  private weavePids(): number[] {
    let files: string[];
    try {
      files = readdirSync(this.rootPath("/run/weave")).filter((f) => f.endsWith(".pid"));
    } catch {
      return [];
    }
    const pids = files
      .map((f) => {
        try {
          return Number.parseInt(readFileSync(join(this.rootPath("/run/weave"), f), "utf8").trim(), 10);
        } catch {
          return Number.NaN; // removed meanwhile
        }
      })
      .filter((pid) => Number.isInteger(pid) && pid > 0 && isAlive(pid));
    return pids.filter(
      (pid) => namespaceOf(pid, "mnt") === this.mntId || namespaceOf(pid, "net") === this.netId,
    );
  }
}
