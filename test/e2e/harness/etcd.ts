/**
 * An etcd for multi-host e2e tests and benchmarks: Debian's etcd 3.4 (`/usr/bin/etcd`, package
 * `etcd-server`) running inside an underlay switch's network namespace, so every host attached to
 * that underlay reaches it at the switch's address (`http://192.168.199.254:2379` by default), as
 * hosts of a real cluster reach their store over the network.
 *
 * Design note: the test process lives in the machine's network namespace, which has no route to the
 * switch's, so the harness talks to etcd (health checks, {@link Etcd.keys}, {@link Etcd.put}) by
 * running `busybox wget` against etcd's v3 JSON gateway inside the switch's namespace
 * (`nsenter --net=...`). busybox is already required by the e2e tier; etcdctl is not. Its `-T` flag is
 * avoided on purpose: the static busybox of Debian 12 crashes with it; `run`'s deadline bounds waits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { untrack, type Resource } from "./cleanup.js";
import { HarnessError, childEnv, formatArgv, run, settlesWithin, sleep } from "./exec.js";
import { HOSTS_DIR } from "./host.js";
import { isAlive, signalPid } from "./procs.js";

/** The etcd binary the harness runs. */
export const ETCD_BIN = "etcd";
/** Client port on the switch's address (of the first member of a cluster; see etcd-cluster.ts). */
export const ETCD_CLIENT_PORT = 2379;
/** Peer port, on 127.0.0.1 inside the switch's namespace (of the first member of a cluster). */
export const ETCD_PEER_PORT = 2380;

/** Options of {@link startEtcd} and {@link Etcd.start}. */
export interface EtcdOptions {
  /** How long to wait for etcd to report healthy, in ms (default 30 000). */
  readyTimeoutMs?: number;
}

/**
 * PEM files for an etcd that serves its clients over TLS and wants a client certificate signed by
 * `ca` (`--client-cert-auth`). The harness itself then talks plain HTTP to it on 127.0.0.1 inside
 * the switch's namespace, out of the hosts' reach.
 */
export interface EtcdTls {
  cert: string;
  key: string;
  ca: string;
}

/** One key and value read from etcd, both as UTF-8 text. */
export interface EtcdKeyValue {
  key: string;
  value: string;
}

/** @internal Where one member listens and which cluster it starts (see etcd-cluster.ts). */
export interface EtcdMemberSpec {
  netns: string;
  address: string;
  /** Its directory's name under {@link HOSTS_DIR}. */
  dirName: string;
  memberName: string;
  clientPort: number;
  peerPort: number;
  /** `--initial-cluster`: every member's name=peer URL. */
  initialCluster: string;
  /** `--initial-cluster-token`: unique per cluster. */
  token: string;
  tls?: EtcdTls;
}

/** What a member says of itself and of its cluster's leader (`/v3/maintenance/status`). */
export interface EtcdStatus {
  /** This member's ID (decimal text). */
  memberId: string;
  /** The leader's member ID, "" or "0" when it knows none. */
  leader: string;
}

/**
 * An etcd member serving one underlay; see the module note. Create it with {@link startEtcd} (alone) or
 * {@link startEtcdCluster} (one of several).
 */
export class Etcd implements Resource {
  /** Stopped together with the hosts, before the underlay (whose namespace it lives in) is deleted. */
  readonly cleanupPhase = 0;
  /** Network namespace it runs in (the underlay switch's). */
  readonly netns: string;
  /** Its directory: `data/` (kept across stop/start) and `etcd.log`. */
  readonly dir: string;
  /** The data directory. */
  readonly dataDir: string;
  /** Client URL for HTTP clients, e.g. "http://192.168.199.254:2379". */
  readonly clientUrl: string;
  /** The value for `weave launch --store`, e.g. "etcd://192.168.199.254:2379". */
  readonly url: string;
  /** Its member name ("default" when alone). */
  readonly name: string;
  private child: ChildProcess | undefined;
  private done: Promise<void> | undefined;
  private destroyed = false;

  /** Where the harness itself reaches etcd (inside the switch's namespace). */
  private readonly adminUrl: string;

  /** @internal Use {@link startEtcd} or {@link startEtcdCluster}. */
  constructor(private readonly spec: EtcdMemberSpec) {
    const { netns, address, clientPort, tls } = spec;
    this.netns = netns;
    this.dir = join(HOSTS_DIR, spec.dirName);
    this.dataDir = join(this.dir, "data");
    this.clientUrl = `${tls ? "https" : "http"}://${address}:${clientPort}`;
    this.url = `${tls ? "etcds" : "etcd"}://${address}:${clientPort}`;
    this.adminUrl = tls ? `http://127.0.0.1:${clientPort}` : this.clientUrl;
    this.name = spec.memberName;
  }

  /** PID of the running etcd, or undefined while it is stopped. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts etcd (again, with the same data directory) and resolves once it reports healthy.
   * Throws `WEAVE_E2E_SETUP` when it is already running, exits, or is not healthy within
   * `readyTimeoutMs` (it is then SIGKILLed), with the tail of its log.
   */
  async start(opts: EtcdOptions = {}): Promise<void> {
    if (this.destroyed) throw new HarnessError("WEAVE_E2E_SETUP", `etcd "${this.dir}" is destroyed`);
    if (this.child !== undefined)
      throw new HarnessError("WEAVE_E2E_SETUP", `etcd "${this.name}" in "${this.netns}" is already running`);
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const { tls, memberName, peerPort, initialCluster, token } = this.spec;
    const peer = `http://127.0.0.1:${peerPort}`;
    const args = [
      `--net=/run/netns/${this.netns}`,
      ETCD_BIN,
      "--name",
      memberName,
      "--data-dir",
      this.dataDir,
      "--listen-client-urls",
      tls ? `${this.clientUrl},${this.adminUrl}` : this.clientUrl,
      "--advertise-client-urls",
      this.clientUrl,
      ...(tls
        ? ["--cert-file", tls.cert, "--key-file", tls.key, "--trusted-ca-file", tls.ca, "--client-cert-auth"]
        : []),
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      // Read only on the first start (an existing data directory knows its cluster).
      "--initial-cluster",
      initialCluster,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      token,
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
    ];
    const log = openSync(join(this.dir, "etcd.log"), "a");
    let child: ChildProcess;
    try {
      // nsenter with only --net execs etcd without forking, so child.pid is etcd's PID.
      child = spawn("nsenter", args, { stdio: ["ignore", log, log], env: childEnv() });
    } finally {
      closeSync(log);
    }
    // Not holding the test process open: a forgotten etcd is killed by the exit hook (cleanup.ts).
    child.unref();
    this.child = child;
    const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    this.done = done;
    let exited = false;
    void done.then(() => (exited = true));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (exited) {
        this.child = undefined;
        this.done = undefined;
        throw new HarnessError(
          "WEAVE_E2E_SETUP",
          `etcd "${this.name}" in "${this.netns}" exited:\n${await this.log()}`,
        );
      }
      if (await this.healthy()) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new HarnessError(
          "WEAVE_E2E_SETUP",
          `etcd "${this.name}" in "${this.netns}" was not healthy within ${opts.readyTimeoutMs ?? 30_000} ms:\n${await this.log()}`,
        );
      }
      await sleep(100);
    }
  }

  /**
   * Stops etcd with SIGTERM and waits for it to exit, SIGKILLing it after 5 s. The data directory is
   * kept for {@link start}. No-op when stopped. Throws `WEAVE_E2E_CLEANUP` if it does not exit at all.
   */
  async stop(): Promise<void> {
    await this.signal("SIGTERM", 5000);
  }

  /** Kills etcd with SIGKILL (a crash) and waits for it to exit; the data directory is kept. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL", 0);
  }

  /** True when etcd answers `GET /health` with `"health":"true"` (waits at most 5 s). */
  async healthy(): Promise<boolean> {
    const res = await this.wget("/health", undefined, 5000).catch(() => undefined);
    if (res === undefined || res.code !== 0) return false;
    try {
      return (JSON.parse(res.stdout) as { health?: unknown }).health === "true";
    } catch {
      return false;
    }
  }

  /**
   * This member's ID and the leader it knows (`POST /v3/maintenance/status`). Throws
   * `WEAVE_E2E_COMMAND_FAILED` when it does not answer.
   */
  async status(): Promise<EtcdStatus> {
    const answer = (await this.post("/v3/maintenance/status", {})) as {
      header?: { member_id?: string | number };
      leader?: string | number;
    };
    return { memberId: String(answer.header?.member_id ?? ""), leader: String(answer.leader ?? "") };
  }

  /**
   * Every key starting with `prefix` ("" for all) and its value, in key order, read through the v3
   * JSON gateway. Throws `WEAVE_E2E_COMMAND_FAILED` when etcd does not answer.
   */
  async keys(prefix = ""): Promise<EtcdKeyValue[]> {
    // etcd reads key "\0" with range_end "\0" as "every key".
    const key = prefix === "" ? Buffer.from([0]) : Buffer.from(prefix, "utf8");
    const end = prefix === "" ? Buffer.from([0]) : prefixEnd(key);
    const body = { key: key.toString("base64"), range_end: end.toString("base64") };
    const answer = (await this.post("/v3/kv/range", body)) as { kvs?: { key?: string; value?: string }[] };
    return (answer.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key ?? "", "base64").toString("utf8"),
      value: Buffer.from(kv.value ?? "", "base64").toString("utf8"),
    }));
  }

  /** Writes `key` = `value` (UTF-8). Throws `WEAVE_E2E_COMMAND_FAILED` when etcd does not answer. */
  async put(key: string, value: string): Promise<void> {
    await this.post("/v3/kv/put", {
      key: Buffer.from(key, "utf8").toString("base64"),
      value: Buffer.from(value, "utf8").toString("base64"),
    });
  }

  /** Last `lines` lines of etcd's log, for failure messages. */
  async log(lines = 30): Promise<string> {
    const text = await readFile(join(this.dir, "etcd.log"), "utf8").catch(() => "");
    return text
      .split("\n")
      .slice(-lines - 1)
      .join("\n");
  }

  /** Stops etcd (SIGTERM, then SIGKILL) and deletes its directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const problems: string[] = [];
    await this.stop().catch((e: unknown) => problems.push(String(e)));
    this.destroyed = true;
    await rm(this.dir, { recursive: true, force: true }).catch((e: unknown) => problems.push(String(e)));
    untrack(this);
    if (problems.length > 0)
      throw new HarnessError(
        "WEAVE_E2E_CLEANUP",
        `Cannot fully remove etcd "${this.dir}": ${problems.join("; ")}`,
      );
  }

  /** @internal Exit-time cleanup: SIGKILL etcd, delete its directory. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const pid = this.child?.pid;
    if (pid !== undefined) {
      signalPid(pid, "SIGKILL");
      const deadline = Date.now() + 3000;
      while (isAlive(pid) && Date.now() < deadline)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sends `signal`, waits `graceMs` for the exit, then SIGKILLs and waits up to 10 s more. */
  private async signal(signal: "SIGTERM" | "SIGKILL", graceMs: number): Promise<void> {
    const child = this.child;
    const done = this.done;
    if (child === undefined || done === undefined) return;
    child.kill(signal);
    if (!(await settlesWithin(done, graceMs))) {
      child.kill("SIGKILL");
      if (!(await settlesWithin(done, 10_000))) {
        throw new HarnessError(
          "WEAVE_E2E_CLEANUP",
          `etcd "${this.name}" in "${this.netns}" (pid ${child.pid}) does not exit`,
        );
      }
    }
    this.child = undefined;
    this.done = undefined;
  }

  /** POSTs `body` as JSON to `path` and returns the parsed answer. */
  private async post(path: string, body: unknown): Promise<unknown> {
    const res = await this.wget(path, JSON.stringify(body), 10_000);
    if (res.code !== 0) {
      throw new HarnessError(
        "WEAVE_E2E_COMMAND_FAILED",
        `Cannot POST ${path} to etcd at ${this.clientUrl}: ${res.stderr.trim() || `exit ${res.code}`}`,
      );
    }
    try {
      return JSON.parse(res.stdout) as unknown;
    } catch (e) {
      throw new HarnessError(
        "WEAVE_E2E_COMMAND_FAILED",
        `Cannot parse etcd's answer to ${path}: ${JSON.stringify(res.stdout.slice(0, 200))}`,
        { cause: e },
      );
    }
  }

  /** `busybox wget` of `path` inside the switch's namespace (POST when `data` is given). */
  private wget(path: string, data: string | undefined, timeoutMs: number) {
    const argv = [
      "nsenter",
      `--net=/run/netns/${this.netns}`,
      "busybox",
      "wget",
      "-q",
      "-Y",
      "off",
      "-O",
      "-",
      ...(data === undefined ? [] : ["--header", "Content-Type: application/json", "--post-data", data]),
      `${this.adminUrl}${path}`,
    ];
    return run(argv, { timeoutMs }).catch((e: unknown) => {
      throw new HarnessError("WEAVE_E2E_COMMAND_FAILED", `Cannot run ${formatArgv(argv)}`, { cause: e });
    });
  }
}

/** The smallest key greater than every key starting with `prefix` (etcd's `range_end` for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every byte 0xff: to the end of the key space
}
