/**
 * End to end: weave under systemd, with packaging/systemd/weave.service as shipped (only the path of
 * the weave binary and of the environment file changed), run by a real systemd manager. The machine
 * has no systemd as PID 1, so a simulated host runs `systemd --user` as root in its own namespaces,
 * confined to cgroups of its own (a manager in the root cgroup would move the machine's processes
 * into its init.scope). A stand-in docker.service shows the ordering: enabling weave and starting
 * Docker starts weave first and Docker only once the plugin socket exists. A crash of weave with
 * containers running is restarted (Restart=on-failure) without loss; a clean stop stays stopped.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecResult, Host } from "./harness/index.js";
import { REPO_ROOT, WEAVE_BIN, createHost, isAlive, requireE2E } from "./harness/index.js";
import {
  assertNoDuplicateAddress,
  dig,
  dnsFlags,
  gatewayOf,
  lossDuring,
  eventuallyResolves,
} from "./deploy-lib.js";
import { canPing, containerIp, eventually, ok, runSleeper, uniq, weaveNetwork } from "./lib.js";

const SYSTEMD = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"].find((p) => existsSync(p));
const UNIT = join(REPO_ROOT, "packaging", "systemd", "weave.service");
const RUNTIME_DIR = "/run/user/0";

function requirements(): string | undefined {
  const e2e = requireE2E(["systemctl", "setsid", "dig"]);
  if (e2e !== undefined || SYSTEMD !== undefined) return e2e;
  const reason = "systemd is not installed (package systemd)";
  if (process.env.CI === "true") throw new Error(`${reason} (CI=true: a skipped e2e test is a failure)`);
  return reason;
}
const skip = requirements();

/** The cgroup hierarchies the manager gets a sub-cgroup of (cpuset would need cpus/mems set up). */
function hierarchies(): string[] {
  return readdirSync("/sys/fs/cgroup").filter(
    (h) => h !== "cpuset" && existsSync(join("/sys/fs/cgroup", h, "cgroup.procs")),
  );
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

/** Removes a cgroup tree, children first (only empty cgroups can go). */
async function removeCgroup(path: string): Promise<void> {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) await removeCgroup(join(path, e.name));
  }
  await rmdir(path).catch(() => undefined);
}

describe("weave under systemd", { skip, timeout: 900_000 }, () => {
  let host: Host;
  let dir: string;
  let cgroup: string;
  let managerPid: number | undefined;
  let net: string;
  let gw: string;
  const apps: string[] = [];

  const env = (): Record<string, string> => ({
    XDG_RUNTIME_DIR: RUNTIME_DIR,
    XDG_CONFIG_HOME: join(dir, "config"),
  });
  const systemctl = (args: string[]): Promise<ExecResult> =>
    host.exec(["systemctl", "--user", ...args], { env: env(), timeoutMs: 60_000 });
  async function show(unit: string, property: string): Promise<string> {
    return ok(await systemctl(["show", "-P", property, unit]), `systemctl show ${property}`);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "weave-e2e-systemd-"));
    host = await createHost({ name: "sd" });
    await host.loadTestImage();

    // The unit as shipped, with this checkout's weave and a test environment file.
    const unitText = (await readFile(UNIT, "utf8"))
      .replaceAll("/usr/local/bin/weave", WEAVE_BIN)
      .replace("EnvironmentFile=-/etc/default/weave", `EnvironmentFile=-${join(dir, "default-weave")}`);
    assert.ok(unitText.includes(`ExecStart=${WEAVE_BIN} launch --foreground`));
    const units = join(dir, "config", "systemd", "user");
    await mkdir(units, { recursive: true });
    await writeFile(join(units, "weave.service"), unitText);
    await writeFile(join(dir, "default-weave"), "WEAVE_IPALLOC_RANGE=10.49.0.0/16\nWEAVE_LOG_LEVEL=debug\n");
    // A stand-in for Docker's unit: records whether weave's plugin socket existed when it started.
    await writeFile(
      join(units, "docker.service"),
      [
        "[Unit]",
        "Description=stand-in for docker.service (the test's dockerd runs outside systemd)",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        `ExecStart=/bin/sh -c 'if [ -S /run/docker/plugins/weave.sock ]; then echo present; else echo missing; fi > ${join(dir, "probe")}'`,
        "",
      ].join("\n"),
    );

    // The manager, in cgroups of its own, inside the host (its /run is the host's own).
    cgroup = `weave-e2e-${host.name}`;
    for (const h of hierarchies()) await mkdir(join("/sys/fs/cgroup", h, cgroup));
    const joinCgroups = hierarchies()
      .map((h) => `echo $$ > /sys/fs/cgroup/${h}/${cgroup}/cgroup.procs`)
      .join("; ");
    const pidFile = join(dir, "manager.pid");
    ok(
      await host.sh(
        `mkdir -p /run/systemd/system ${RUNTIME_DIR} && chmod 700 ${RUNTIME_DIR} && cd / && ` +
          `setsid -f sh -c '${joinCgroups}; echo $$ > ${pidFile}; exec ${SYSTEMD} --user' ` +
          `>${join(dir, "manager.log")} 2>&1 </dev/null`,
        { env: env() },
      ),
      "start systemd --user",
    );
    await eventually("the systemd manager runs", async () => {
      const state = (await systemctl(["is-system-running"])).stdout.trim();
      return state === "running" || state === "degraded";
    });
    managerPid = Number(await readFile(pidFile, "utf8"));
  });

  after(async () => {
    if (host !== undefined && managerPid !== undefined) {
      // Containers go while weave serves their endpoints; then weave and the manager stop.
      await systemctl(["start", "weave.service"]).catch(() => undefined);
      if (apps.length > 0) await host.docker(["rm", "-f", ...apps]).catch(() => undefined);
      await systemctl(["stop", "weave.service", "docker.service"]).catch(() => undefined);
      await systemctl(["exit"]).catch(() => undefined);
      const deadline = Date.now() + 15_000;
      while (isAlive(managerPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (isAlive(managerPid)) kill(managerPid);
    }
    await host?.destroy();
    if (cgroup !== undefined)
      for (const h of hierarchies()) await removeCgroup(join("/sys/fs/cgroup", h, cgroup));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test("enabled with docker.service, weave starts first and Docker once the plugin socket exists", async () => {
    const enabled = await systemctl(["enable", "weave.service"]);
    ok(enabled, "systemctl enable weave");
    assert.match(enabled.stderr + enabled.stdout, /docker\.service\.wants\/weave\.service/);
    assert.equal(await show("weave.service", "ActiveState"), "inactive");
    ok(await systemctl(["start", "docker.service"]), "systemctl start docker.service");
    assert.equal(await show("weave.service", "ActiveState"), "active", "Docker's start pulled weave in");
    assert.equal(
      (await readFile(join(dir, "probe"), "utf8")).trim(),
      "present",
      "weave served before Docker",
    );
    ok(await host.weave(["status"]), "weave status");
    // The environment file was read: the default network's subnet comes from its range.
    await eventually(
      "default network",
      async () => (await host.docker(["network", "inspect", "weave"])).code === 0,
    );
    assert.match(await gatewayOf(host, "weave"), /^10\.49\./);
  });

  test("a crash with containers running: systemd restarts weave, traffic, state and names survive", async () => {
    net = uniq("sn");
    await weaveNetwork(host, net);
    gw = await gatewayOf(host, net);
    const a = await runSleeper(host, uniq("a"), [`--net=${net}`, ...dnsFlags(gw)]);
    const b = await runSleeper(host, uniq("b"), [`--net=${net}`, ...dnsFlags(gw)]);
    apps.push(a, b);
    const ipB = await containerIp(host, b, net);
    await eventually("weaveDNS knows b", async () => (await dig(host, gw, `${b}.weave.local`)).includes(ipB));

    const pid = Number(await show("weave.service", "MainPID"));
    assert.ok(pid > 0, "weave runs under systemd");
    const loss = await lossDuring(host, a, ipB, 8, async () => {
      kill(pid);
    });
    assert.ok(loss <= 10, `packet loss ${loss}% across the crash`);
    await eventually(
      "systemd restarted weave",
      async () => {
        const now = Number(await show("weave.service", "MainPID"));
        return now > 0 && now !== pid && (await host.weave(["status"])).code === 0;
      },
      30_000,
    );
    assert.equal(await show("weave.service", "NRestarts"), "1");
    const status = JSON.parse(ok(await host.weave(["status", "--json"]))) as {
      networks: { name: string; endpoints: number }[];
    };
    assert.equal(status.networks.find((n) => n.name === net)?.endpoints, 2, "state intact");
    const c = await runSleeper(host, uniq("c"), [`--net=${net}`, ...dnsFlags(gw)]);
    apps.push(c);
    const ipC = await containerIp(host, c, net);
    await assertNoDuplicateAddress(host, net);
    assert.ok(await canPing(host, c, ipB), "a new container reaches an old one");
    await eventually("weaveDNS knows c", async () => (await dig(host, gw, `${c}.weave.local`)).includes(ipC));
    await eventuallyResolves(host, a, `${c}.weave.local`, ipC);
    await eventuallyResolves(host, c, `${b}.weave.local`, ipB);
  });

  test("systemctl stop is a clean stop; `weave stop` is not restarted; containers keep their network", async () => {
    const [a, b] = apps as [string, string];
    const ipB = await containerIp(host, b, net);
    ok(await systemctl(["stop", "weave.service"]), "systemctl stop weave");
    assert.equal(await show("weave.service", "Result"), "success", "SIGTERM ends weave with exit 0");
    assert.ok(await canPing(host, a, ipB), "traffic flows while weave is stopped");

    ok(await systemctl(["start", "weave.service"]), "systemctl start weave");
    ok(await host.weave(["stop"]), "weave stop");
    await eventually(
      "weave stopped",
      async () => (await show("weave.service", "ActiveState")) === "inactive",
    );
    await new Promise((r) => setTimeout(r, 4000)); // longer than RestartSec
    assert.equal(await show("weave.service", "ActiveState"), "inactive", "an exit 0 is not restarted");
    assert.ok(await canPing(host, a, ipB));
  });
});
