/**
 * End to end: weave as a managed Docker plugin (plugin v2), without a registry. The bundle from
 * scripts/build-plugin.sh is created with `docker plugin create`, configured with `docker plugin
 * set` while disabled and enabled; `-d weave:latest --ipam-driver weave:latest` networks then work
 * with weaveDNS. Docker restarts the plugin by itself when its process dies: state, running
 * containers and names survive that, and a dockerd restart too.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecResult, Host } from "./harness/index.js";
import { createHost, isAlive, requireE2E } from "./harness/index.js";
import {
  SCRIPTS,
  assertNoDuplicateAddress,
  dig,
  dnsFlags,
  gatewayOf,
  lossDuring,
  eventuallyResolves,
  pairTalks,
} from "./deploy-lib.js";
import { canPing, containerIp, eventually, ok, runSleeper, uniq } from "./lib.js";

const skip = requireE2E(["dig", "ctr", "node", "npm", "nft", "sysctl", "bridge", "ldd"]);

const PLUGIN = "weave:latest";

describe("weave as a managed plugin", { skip, timeout: 900_000 }, () => {
  let host: Host;
  let work: string;
  let net: string;
  let gw: string;
  const apps: string[] = [];

  /** Host PID of the plugin's process, from containerd (Docker runs plugins in "plugins.moby"). */
  async function pluginPid(): Promise<number | undefined> {
    const id = ok(await host.docker(["plugin", "inspect", "-f", "{{.Id}}", PLUGIN]));
    const out = await host.exec([
      "ctr",
      "--address",
      "/run/docker/containerd/containerd.sock",
      "--namespace",
      "plugins.moby",
      "task",
      "ls",
    ]);
    const row = out.stdout.split("\n").find((l) => l.startsWith(id));
    const [, pid, state] = row?.trim().split(/\s+/) ?? [];
    return state === "RUNNING" && pid !== undefined ? Number(pid) : undefined;
  }

  /** Lines the plugin logged (dockerd relays them with plugin=ID). */
  async function pluginLog(): Promise<string> {
    return ok(await host.sh(`grep -a 'plugin=' ${join(host.dir, "dockerd.log")} || true`));
  }

  async function networkWorks(network: string, gateway: string): Promise<void> {
    const c = await runSleeper(host, uniq("n"), [`--net=${network}`, ...dnsFlags(gateway)]);
    apps.push(c);
    const ip = await containerIp(host, c, network);
    const [a] = apps as [string];
    assert.ok(await canPing(host, c, await containerIp(host, a, network)), `${c} reaches ${a}`);
    await eventually(`weaveDNS knows ${c}`, async () =>
      (await dig(host, gateway, `${c}.weave.local`)).includes(ip),
    );
    await eventuallyResolves(host, a, `${c}.weave.local`, ip);
    await assertNoDuplicateAddress(host, network);
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "weave-e2e-plugin-"));
    host = await createHost({ name: "mp" });
    await host.loadTestImage();
  });

  after(async () => {
    if (host !== undefined && apps.length > 0)
      await host.docker(["rm", "-f", ...apps]).catch(() => undefined);
    await host?.destroy();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test("build-plugin.sh makes the bundle; docker plugin create, set and enable", async () => {
    const bundle = join(work, "bundle");
    const built = await host.exec(
      ["bash", join(SCRIPTS, "build-plugin.sh"), "--skip-build", "--dir", bundle],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(ok(built, "build-plugin.sh"), bundle);
    const config = JSON.parse(ok(await host.sh(`cat ${bundle}/config.json`))) as {
      Interface: { Types: string[]; Socket: string };
      Network: { Type: string };
      Env: { Name: string; Settable: string[]; Value: string }[];
    };
    assert.deepEqual(config.Interface, {
      Types: ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"],
      Socket: "weave.sock",
      ProtocolScheme: "moby.plugins.http/v1",
    });
    assert.equal(config.Network.Type, "host");
    const env = new Map(config.Env.map((e) => [e.Name, e]));
    assert.equal(env.get("WEAVE_DRIVER_NAME")?.Value, PLUGIN);
    assert.deepEqual(env.get("WEAVE_LOG_LEVEL")?.Settable, ["value"]);
    assert.deepEqual(env.get("WEAVE_SOCKET")?.Settable, [], "the socket is fixed by Docker");

    ok(await host.docker(["plugin", "create", "weave", bundle], { timeoutMs: 300_000 }), "plugin create");
    ok(
      await host.docker([
        "plugin",
        "set",
        PLUGIN,
        "WEAVE_LOG_LEVEL=debug",
        "WEAVE_IPALLOC_RANGE=10.48.0.0/16",
      ]),
      "plugin set",
    );
    ok(await host.docker(["plugin", "enable", PLUGIN], { timeoutMs: 120_000 }), "plugin enable");
    const settings = ok(await host.docker(["plugin", "inspect", "-f", "{{json .Settings.Env}}", PLUGIN]));
    assert.ok(settings.includes("WEAVE_LOG_LEVEL=debug"), settings);

    // The default network is created by weave itself, once Docker has finished enabling it, with
    // the driver and IPAM named after the plugin and a subnet from the range that was set.
    await eventually(
      "default network weave",
      async () => (await host.docker(["network", "inspect", "weave"])).code === 0,
      30_000,
    );
    const drivers = ok(
      await host.docker(["network", "inspect", "-f", "{{.Driver}} {{.IPAM.Driver}}", "weave"]),
    );
    assert.equal(drivers, `${PLUGIN} ${PLUGIN}`);
    assert.match(await gatewayOf(host, "weave"), /^10\.48\./, "WEAVE_IPALLOC_RANGE took effect");
    assert.match(await pluginLog(), /\\"level\\":\\"debug\\"/, "WEAVE_LOG_LEVEL took effect");
  });

  test("networks of driver weave:latest: traffic and weaveDNS names", async () => {
    net = uniq("pn");
    ok(
      await host.docker(["network", "create", "-d", PLUGIN, "--ipam-driver", PLUGIN, net]),
      "network create",
    );
    gw = await gatewayOf(host, net);
    const { a, b } = await pairTalks(host, net, gw);
    apps.push(a, b);
    // The default network works too.
    const d = await runSleeper(host, uniq("d"), ["--net=weave"]);
    apps.push(d);
    assert.match(await containerIp(host, d, "weave"), /^10\.48\./);
  });

  test("Docker restarts the plugin when its process dies: traffic, state and names survive", async () => {
    const [a, b] = apps as [string, string];
    const ipB = await containerIp(host, b, net);
    const before = await pluginPid();
    assert.ok(before !== undefined, "the plugin runs");
    const loss = await lossDuring(host, a, ipB, 8, async () => {
      ok(await host.sh(`kill -9 ${before}`), "kill the plugin");
    });
    assert.ok(loss <= 10, `packet loss ${loss}% while the plugin restarted`);
    assert.ok(!isAlive(before), "the old process is gone");
    await eventually(
      "Docker restarted the plugin",
      async () => {
        const pid = await pluginPid();
        return pid !== undefined && pid !== before;
      },
      30_000,
    );
    assert.equal(ok(await host.docker(["plugin", "inspect", "-f", "{{.Enabled}}", PLUGIN])), "true");
    // weave's own view, from inside the plugin: the state survived the restart.
    const status = JSON.parse(
      ok(
        await host.exec(["bash", join(SCRIPTS, "plugin-exec.sh"), "weave", "status", "--json"]),
        "plugin-exec.sh",
      ),
    ) as { networks: { name: string; endpoints: number }[] };
    assert.equal(
      status.networks.find((n) => n.name === net)?.endpoints,
      2,
      `both endpoints of ${net} on record`,
    );
    // Names of running containers still resolve; the network takes new containers.
    await eventually("b still in weaveDNS", async () =>
      (await dig(host, gw, `${b}.weave.local`)).includes(ipB),
    );
    await eventuallyResolves(host, a, `${b}.weave.local`, ipB);
    await networkWorks(net, gw);
  });

  test("upgrade in place (build-plugin.sh --enable --replace): networks, containers and names stay", async () => {
    const [a, b] = apps as [string, string];
    const ipB = await containerIp(host, b, net);
    const oldId = ok(await host.docker(["plugin", "inspect", "-f", "{{.Id}}", PLUGIN]));
    let res: ExecResult | undefined;
    const loss = await lossDuring(host, a, ipB, 20, async () => {
      res = await host.exec(
        [
          "bash",
          join(SCRIPTS, "build-plugin.sh"),
          "--skip-build",
          "--dir",
          join(work, "bundle2"),
          "--enable",
          "--replace",
        ],
        { timeoutMs: 300_000 },
      );
    });
    assert.ok(res !== undefined);
    ok(res, "build-plugin.sh --enable --replace");
    assert.ok(loss <= 10, `packet loss ${loss}% during the upgrade`);
    assert.notEqual(
      ok(await host.docker(["plugin", "inspect", "-f", "{{.Id}}", PLUGIN])),
      oldId,
      "a new plugin",
    );
    // Settings are the new bundle's defaults: the default network's range stays as it was created.
    await eventually("b still in weaveDNS", async () =>
      (await dig(host, gw, `${b}.weave.local`)).includes(ipB),
    );
    await networkWorks(net, gw);
  });

  test("dockerd restart with the managed plugin: containers come back with their network and names", async () => {
    const r = await runSleeper(host, uniq("r"), ["--restart=always", `--net=${net}`, ...dnsFlags(gw)]);
    apps.push(r);
    await host.stopDockerd();
    await host.startDockerd();
    // dockerd starts the plugin before it restores networks; the restart-policy container is back.
    await eventually(
      `${r} running again`,
      async () => (await host.docker(["inspect", "-f", "{{.State.Running}}", r])).stdout.trim() === "true",
      60_000,
    );
    const ipR = await containerIp(host, r, net);
    await eventually(
      "r in weaveDNS",
      async () => (await dig(host, gw, `${r}.weave.local`)).includes(ipR),
      30_000,
    );
    // Containers without a restart policy were stopped by dockerd: start them again.
    const stopped = [];
    for (const c of apps) {
      if ((await host.docker(["inspect", "-f", "{{.State.Running}}", c])).stdout.trim() !== "true")
        stopped.push(c);
    }
    if (stopped.length > 0) ok(await host.docker(["start", ...stopped]), "docker start");
    const [a] = apps as [string];
    const ipA = await containerIp(host, a, net);
    assert.ok(await canPing(host, r, ipA), "r reaches a");
    await eventuallyResolves(host, r, `${a}.weave.local`, ipA);
    await networkWorks(net, gw);
    const nets = ok(
      await host.docker(["network", "ls", "--filter", `driver=${PLUGIN}`, "--format", "{{.Name}}"]),
    );
    assert.deepEqual(nets.split("\n").sort(), [net, "weave"].sort());
  });
});
