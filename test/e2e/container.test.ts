/**
 * End to end: weave as a container, as the original README ran the plugin. The image is built from
 * this machine's files into a simulated host's dockerd (scripts/build-image.sh with DOCKER_HOST),
 * started with scripts/start-plugin.sh, and serves `docker network create -d weave` with weaveDNS.
 * `docker restart weave` with containers running loses no traffic, no state and gives no address
 * twice. scripts/start-all.sh adds an etcd container and relaunches weave with it as its store.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { createHost, run } from "./harness/index.js";
import { requireE2E } from "./harness/index.js";
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
import { canPing, containerIp, eventually, ok, runSleeper, uniq, weaveNetwork } from "./lib.js";

const skip = requireE2E(["dig", "etcd", "etcdctl", "node", "npm", "nft", "sysctl", "bridge", "ldd"]);

interface WeaveStatus {
  pid: number;
  networks: { id: string; name: string; endpoints: number }[];
  defaultNetwork: { name: string; ready: boolean };
}

describe("weave as a container", { skip, timeout: 900_000 }, () => {
  let host: Host;
  let work: string;
  let net: string;
  let gw: string;
  const apps: string[] = [];

  const status = async (): Promise<WeaveStatus> =>
    JSON.parse(
      ok(await host.docker(["exec", "weave", "weave", "status", "--json"]), "weave status"),
    ) as WeaveStatus;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "weave-e2e-image-"));
    host = await createHost({ name: "ctr" });
    await host.loadTestImage();
  });

  after(async () => {
    // Containers first, while weave still serves their endpoints; then the host.
    if (host !== undefined && apps.length > 0) await host.docker(["rm", "-f", ...apps]);
    await host?.destroy();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test("build-image.sh builds weave:latest from this machine's files into the host's Docker (DOCKER_HOST)", async () => {
    // Run from outside the host: only DOCKER_HOST points the script at the host's dockerd.
    const res = await run(
      ["bash", join(SCRIPTS, "build-image.sh"), "--skip-build", "--rootfs", join(work, "rootfs")],
      {
        env: { DOCKER_HOST: `unix://${host.rootPath("/run/docker.sock")}`, DOCKER_API_VERSION: "1.41" },
        timeoutMs: 300_000,
      },
    );
    assert.match(ok(res, "build-image.sh"), /^weave:latest sha256:[0-9a-f]{64}$/);
    const entrypoint = ok(
      await host.docker(["image", "inspect", "-f", "{{json .Config.Entrypoint}}", "weave:latest"]),
    );
    assert.equal(entrypoint, '["/usr/bin/weave-entrypoint"]');
    // The image has weave, its Node.js and the data plane's tools, and nothing comes from a registry.
    const version = ok(await host.docker(["run", "--rm", "--net=none", "weave:latest", "weave", "version"]));
    assert.match(version, /^weave \d+\.\d+\.\d+/);
    const tools = await host.docker([
      "run",
      "--rm",
      "--net=none",
      "weave:latest",
      "sh",
      "-c",
      "ip -V && bridge -V && nft --version && iptables-nft --version && iptables-legacy --version && sysctl -V",
    ]);
    ok(tools, "tools in the image");
  });

  test("start-plugin.sh runs weave; networks, traffic and weaveDNS names work", async () => {
    const started = await host.exec(["bash", join(SCRIPTS, "start-plugin.sh")], { timeoutMs: 120_000 });
    assert.match(ok(started, "start-plugin.sh"), /^[0-9a-f]{64}$/);
    const inspect = ok(
      await host.docker([
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}} {{.HostConfig.RestartPolicy.Name}} {{range .Mounts}}{{.Destination}},{{end}}",
        "weave",
      ]),
    );
    assert.match(inspect, /^host always /);
    for (const m of ["/run/docker/plugins", "/var/run/docker.sock", "/var/lib/weave"]) {
      assert.ok(inspect.includes(`${m},`), `${m} is mounted: ${inspect}`);
    }
    // The default network, as with `weave launch`.
    assert.equal((await status()).defaultNetwork.ready, true);
    ok(await host.docker(["network", "inspect", "weave"]), "default network");

    net = uniq("cn");
    await weaveNetwork(host, net);
    gw = await gatewayOf(host, net);
    const { a, b } = await pairTalks(host, net, gw);
    apps.push(a, b);
  });

  test("docker restart weave with containers running: traffic continues, state intact, no duplicate address", async () => {
    const [a, b] = apps as [string, string];
    const ipA = await containerIp(host, a, net);
    const ipB = await containerIp(host, b, net);
    const before = await status();
    const loss = await lossDuring(host, a, ipB, 8, async () => {
      ok(await host.docker(["restart", "weave"]), "docker restart weave");
    });
    assert.ok(loss <= 10, `packet loss ${loss}% across the restart`);

    await eventually(
      "weave answers again",
      async () => (await host.docker(["exec", "weave", "weave", "status"])).code === 0,
    );
    const afterRestart = await status();
    const mine = afterRestart.networks.find((n) => n.name === net);
    assert.ok(mine, `weave still has ${net}`);
    assert.equal(mine.endpoints, 2, "both endpoints are still on record");
    assert.deepEqual(
      afterRestart.networks.map((n) => n.id).sort(),
      before.networks.map((n) => n.id).sort(),
      "the same networks",
    );

    // New containers work, with new addresses and names, and the old names still resolve.
    const c = await runSleeper(host, uniq("c"), [`--net=${net}`, ...dnsFlags(gw)]);
    apps.push(c);
    const ipC = await containerIp(host, c, net);
    assert.ok(![ipA, ipB].includes(ipC), `${ipC} is a new address`);
    await assertNoDuplicateAddress(host, net);
    assert.ok((await canPing(host, c, ipA)) && (await canPing(host, a, ipC)), "old and new containers talk");
    await eventually("weaveDNS knows c", async () => (await dig(host, gw, `${c}.weave.local`)).includes(ipC));
    await eventuallyResolves(host, c, `${a}.weave.local`, ipA);
    await eventuallyResolves(host, a, `${c}.weave.local`, ipC);
    // And a new network.
    const net2 = uniq("cn");
    await weaveNetwork(host, net2);
    const d = await runSleeper(host, uniq("d"), [`--net=${net2}`]);
    apps.push(d);
    assert.match(await containerIp(host, d, net2), /^\d+\./);
  });

  test("start-plugin.sh again replaces the container and keeps the state", async () => {
    const oldId = ok(await host.docker(["inspect", "-f", "{{.Id}}", "weave"]));
    const before = await status();
    const res = await host.exec(["bash", join(SCRIPTS, "start-plugin.sh"), "--log-level", "debug"], {
      timeoutMs: 120_000,
    });
    const newId = ok(res, "start-plugin.sh");
    assert.notEqual(newId, oldId);
    assert.match(res.stderr, /replacing the container weave/);
    const now = await status();
    assert.deepEqual(
      now.networks.map((n) => `${n.id}:${n.endpoints}`).sort(),
      before.networks.map((n) => `${n.id}:${n.endpoints}`).sort(),
    );
    const [a, b] = apps as [string, string];
    assert.ok(await canPing(host, a, await containerIp(host, b, net)));
  });

  test("start-all.sh starts etcd, then weave with --store, still serving the existing network", async () => {
    const built = await host.exec(
      ["bash", join(SCRIPTS, "build-image.sh"), "--target", "etcd", "--rootfs", join(work, "etcd-rootfs")],
      { timeoutMs: 300_000 },
    );
    assert.match(ok(built, "build-image.sh --target etcd"), /^weave-etcd:latest sha256:/);
    const res = await host.exec(["bash", join(SCRIPTS, "start-all.sh")], { timeoutMs: 180_000 });
    ok(res, "start-all.sh");
    assert.match(res.stderr, /etcd is up at http:\/\/127\.0\.0\.1:2379/);
    const args = ok(await host.docker(["inspect", "-f", "{{json .Args}}", "weave"]));
    assert.ok(args.includes("etcd://127.0.0.1:2379"), `weave got the store: ${args}`);
    await eventually("weave in the container joined the cluster store", async () => {
      const peers = await host.docker(["exec", "weave", "weave", "status", "peers", "--json"]);
      if (peers.code !== 0) return false;
      const p = JSON.parse(peers.stdout) as { store: { reachable: boolean }; peers: { state: string }[] };
      return p.store.reachable && p.peers.some((x) => x.state === "self");
    });
    ok(await host.docker(["exec", "weave-etcd", "etcdctl", "endpoint", "health"]), "etcd is healthy");
    ok(await host.docker(["exec", "weave-etcd", "etcdctl", "put", "weave-e2e", "ok"]));
    assert.match(ok(await host.docker(["exec", "weave-etcd", "etcdctl", "get", "weave-e2e"])), /ok$/);
    // weave (replaced once more) still serves the existing network.
    const [a, b] = apps as [string, string];
    assert.ok(await canPing(host, a, await containerIp(host, b, net)));
    const e = await runSleeper(host, uniq("e"), [`--net=${net}`]);
    apps.push(e);
    await assertNoDuplicateAddress(host, net);
    apps.push("weave-etcd");
  });
});
