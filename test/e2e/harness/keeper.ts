/**
 * The namespaces of a simulated host: its network namespace, and the keeper process that creates
 * and holds its private mount namespace (fresh tmpfs /run, netns-correct /sys, private
 * /var/lib/docker, /var/lib/weave, /etc/docker and /var/log).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { HarnessError, childEnv, runChecked, sleep } from "./exec.js";
import { namedNetns } from "./procs.js";

/**
 * Host directories bind-mounted over the machine's paths inside the host. The mount points must exist
 * on the machine, so missing ones are created (empty). A private /etc/docker gives each dockerd its
 * own key.json (engine ID) and keeps the machine's untouched; a private /var/log keeps each host's
 * weave log (`/var/log/weave.log` by default) apart from the machine's and other hosts'.
 */
export const BIND_MOUNTS = [
  ["lib-docker", "/var/lib/docker"],
  ["lib-weave", "/var/lib/weave"],
  ["etc-docker", "/etc/docker"],
  ["var-log", "/var/log"],
] as const;

/** Creates network namespace `name` with lo up; returns its identity (`net:[inode]`). */
export async function createNetns(name: string): Promise<string | undefined> {
  await runChecked(["ip", "netns", "add", name]);
  await runChecked(["ip", "-n", name, "link", "set", "lo", "up"]);
  return namedNetns(name);
}

/**
 * Starts the keeper of host `name` (its netns must exist), which sets up the mount namespace and then
 * sleeps forever; resolves once the mounts are in place (well under a second). Its PID is the handle
 * of the mount namespace (`nsenter --mount=/proc/PID/ns/mnt`). Throws `WEAVE_E2E_SETUP` with the
 * keeper's output when setup fails or takes over 10 s.
 */
export async function startKeeper(name: string, dir: string): Promise<ChildProcess> {
  for (const [sub, target] of BIND_MOUNTS) {
    await mkdir(join(dir, sub), { recursive: true });
    await mkdir(target, { recursive: true });
  }
  const log = openSync(join(dir, "keeper.log"), "a");
  let keeper: ChildProcess;
  try {
    const argv = [`--net=/run/netns/${name}`, "unshare", "--mount", "--propagation", "private"];
    keeper = spawn("nsenter", [...argv, "sh", "-c", keeperScript(dir)], {
      stdio: ["ignore", log, log],
      env: childEnv(),
    });
  } finally {
    closeSync(log);
  }
  // Not holding the test process open: a forgotten host is removed by the exit hook (cleanup.ts).
  keeper.unref();
  const deadline = Date.now() + 10_000;
  while (!existsSync(join(dir, "ns.ready"))) {
    if (keeper.exitCode !== null || keeper.signalCode !== null || Date.now() > deadline) {
      keeper.kill("SIGKILL");
      const text = await readFile(join(dir, "keeper.log"), "utf8").catch(() => "");
      throw new HarnessError(
        "WEAVE_E2E_SETUP",
        `Cannot set up the namespaces of host "${name}": ${text.trim()}`,
      );
    }
    await sleep(20);
  }
  return keeper;
}

/** Shell script run by the keeper inside its new mount namespace (and the host's netns). */
function keeperScript(dir: string): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    "set -e",
    "mount -t tmpfs -o mode=0755 tmpfs /run",
    "mkdir -p /run/docker/plugins /run/lock /run/.wve-cgroup",
    // A sysfs mounted from inside the netns shows the host's own interfaces under /sys/class/net;
    // the cgroup hierarchy below it is carried over, or dockerd cannot find its cgroups.
    "mount --rbind /sys/fs/cgroup /run/.wve-cgroup",
    "mount -t sysfs sysfs /sys",
    "mount --move /run/.wve-cgroup /sys/fs/cgroup",
    "rmdir /run/.wve-cgroup",
    ...BIND_MOUNTS.map(([sub, target]) => `mount --bind ${q(join(dir, sub))} ${target}`),
    `: > ${q(join(dir, "ns.ready"))}`,
    "exec sleep infinity",
  ].join("\n");
}
