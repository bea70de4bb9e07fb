/**
 * End to end on one Docker host: `docker network connect` / `disconnect` with `--ip` and `--alias`
 * on a running container, and the docker-compose projects of examples/ (a project with a weave
 * network of its own, and one on the existing network `weave` as `external`), run with Debian's
 * docker-compose 1.29 against the host's dockerd. One host serves every case.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecResult, Host } from "./harness/index.js";
import { REPO_ROOT, requireE2E, TEST_IMAGE } from "./harness/index.js";
import { answersOf, defaultGatewayOf, dig, digFrom, dnsFlags, gatewayOf, resolves } from "./deploy-lib.js";
import {
  canPing,
  containerIp,
  eventually,
  fails,
  launchedHost,
  ok,
  runSleeper,
  uniq,
  weaveNetwork,
  weaveStatus,
  weaveVeths,
} from "./lib.js";

const skip = requireE2E(["dig", "docker-compose"]);

const EXAMPLES = join(REPO_ROOT, "examples");

/** The IPv4 addresses (no prefix) configured inside `container`. */
async function addressesInside(host: Host, container: string): Promise<string[]> {
  const out = ok(await host.docker(["exec", container, "ip", "-o", "-4", "addr", "show"]));
  return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1] ?? "");
}

/** True when weaveDNS at `server`, asked from `container`, answers `name` with `ip`. */
async function answers(host: Host, container: string, server: string, name: string, ip: string) {
  return answersOf(await digFrom(host, container, server, name)).includes(ip);
}

describe(
  "docker network connect/disconnect and docker-compose on one host",
  { skip, timeout: 600_000 },
  () => {
    let host: Host;

    before(async () => {
      host = await launchedHost("cmp");
    });

    after(async () => {
      await host?.destroy();
    });

    test("connect --ip --alias gives a running container that address and name on the network; disconnect takes both away", async () => {
      const net = uniq("cn");
      await weaveNetwork(host, "--subnet", "10.97.0.0/24", net);
      const gwWeave = await gatewayOf(host, "weave");
      const peer = await runSleeper(host, uniq("p"), [`--net=${net}`]);
      const gw = await defaultGatewayOf(host, peer);
      const other = await runSleeper(host, uniq("o"), ["--net=weave"]);
      const target = await runSleeper(host, uniq("t"), ["--net=weave"]);
      const ipWeave = await containerIp(host, target, "weave");
      const alias = uniq("svc");
      const vethsBefore = await weaveVeths(host);

      ok(await host.docker(["network", "connect", "--ip", "10.97.0.50", "--alias", alias, net, target]));
      assert.equal(await containerIp(host, target, net), "10.97.0.50");
      assert.ok((await addressesInside(host, target)).includes("10.97.0.50"), "the address is inside");
      assert.ok(await canPing(host, peer, "10.97.0.50"), "a container on the network reaches it");
      for (const name of [`${alias}.weave.local`, `${target}.weave.local`]) {
        await eventually(`${name} answers 10.97.0.50 on ${net}`, () =>
          answers(host, peer, gw, name, "10.97.0.50"),
        );
      }
      // The alias belongs to the network it was given on: a container only on `weave` does not see
      // it, and sees the container's name with its `weave` address only.
      assert.match(await digFrom(host, other, gwWeave, `${alias}.weave.local`), /status: NXDOMAIN/);
      assert.deepEqual(answersOf(await digFrom(host, other, gwWeave, `${target}.weave.local`)), [ipWeave]);
      const ps = ok(await host.weave(["ps"]));
      assert.match(ps, new RegExp(`^${target}\\s+${net}\\s+\\S+\\s+10\\.97\\.0\\.50/24`, "m"));
      assert.equal((await weaveVeths(host)).length, vethsBefore.length + 1, "one more veth");

      ok(await host.docker(["network", "disconnect", net, target]));
      assert.ok(!(await addressesInside(host, target)).includes("10.97.0.50"), "the address is gone inside");
      assert.equal(await canPing(host, peer, "10.97.0.50"), false, "the address answers no more");
      await eventually("the alias is gone", async () =>
        /status: NXDOMAIN/.test(await digFrom(host, peer, gw, `${alias}.weave.local`)),
      );
      assert.match(await digFrom(host, peer, gw, `${target}.weave.local`), /status: NXDOMAIN/);
      assert.doesNotMatch(ok(await host.weave(["ps"])), new RegExp(`^${target}\\s+${net}\\s`, "m"));
      assert.deepEqual((await weaveVeths(host)).sort(), vethsBefore.sort(), "its veth is deleted");
      // Still on `weave`, and the address is free again: a second connect gets it.
      assert.ok(await canPing(host, other, ipWeave), "the container keeps its other network");
      ok(await host.docker(["network", "connect", "--ip", "10.97.0.50", net, target]), "connect again");
      assert.ok(await canPing(host, peer, "10.97.0.50"), "reachable again");
      ok(await host.docker(["rm", "-f", peer, other, target]));
      ok(await host.docker(["network", "rm", net]));
    });

    /** Runs docker-compose inside the host, on its dockerd, with the example's file and TEST_IMAGE. */
    const compose = (example: string, project: string, args: readonly string[]): Promise<ExecResult> =>
      host.exec(
        ["docker-compose", "-f", join(EXAMPLES, example, "docker-compose.yml"), "-p", project, ...args],
        { env: { IMAGE: TEST_IMAGE, DOCKER_HOST: "unix:///run/docker.sock" }, timeoutMs: 180_000 },
      );

    /** What `container` gets from `url` with busybox wget ("" on failure; its -T flag crashes). */
    const fetch = async (container: string, url: string): Promise<string> => {
      const res = await host
        .docker(["exec", container, "wget", "-qO-", url], { timeoutMs: 10_000 })
        .catch(() => undefined);
      return res?.code === 0 ? res.stdout.trim() : "";
    };

    /** Asserts that nothing of compose project `project` is left: containers, weave endpoints, veths. */
    async function assertNothingLeft(project: string, veths: string[]): Promise<void> {
      const left = ok(
        await host.docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`]),
      );
      assert.equal(left, "", "no container of the project");
      assert.doesNotMatch(ok(await host.weave(["ps"])), new RegExp(`^${project}_`, "m"), "weave ps");
      assert.deepEqual((await weaveVeths(host)).sort(), [...veths].sort(), "no veth left");
    }

    test("a compose project with a weave network of its own: services reach each other by name; down removes everything", async () => {
      const project = uniq("cw");
      const network = `${project}_appnet`;
      const veths = await weaveVeths(host);
      const networksBefore = (await weaveStatus(host)).networks.length;
      ok(await compose("compose-weave-network", project, ["up", "-d"]), "docker-compose up");
      const [web, client] = [`${project}_web_1`, `${project}_client_1`];
      assert.equal(ok(await host.docker(["network", "inspect", "-f", "{{.Driver}}", network])), "weave");
      assert.equal(
        ok(
          await host.docker([
            "network",
            "inspect",
            "-f",
            "{{.IPAM.Driver}} {{(index .IPAM.Config 0).Subnet}}",
            network,
          ]),
        ),
        "weave 10.98.0.0/24",
      );
      const ipWeb = await containerIp(host, web, network);
      assert.match(ipWeb, /^10\.98\.0\./);
      const gwNet = await defaultGatewayOf(host, client);
      await eventually(
        "client fetches http://web/ by service name",
        async () => (await fetch(client, "http://web/")) === "hello from web",
      );
      // weaveDNS has the service name too (compose gives it as a network alias), on this network.
      await eventually("weaveDNS answers web.weave.local", () =>
        answers(host, client, gwNet, "web.weave.local", ipWeb),
      );
      const bridge = (await weaveStatus(host)).networks.find((n) => n.name === network)?.bridge;
      assert.ok(bridge, `weave status lists ${network}`);

      ok(await compose("compose-weave-network", project, ["down"]), "docker-compose down");
      await assertNothingLeft(project, veths);
      fails(await host.docker(["network", "inspect", network]), "network inspect after down");
      assert.equal((await weaveStatus(host)).networks.length, networksBefore, "weave dropped the network");
      fails(await host.exec(["ip", "link", "show", bridge]), "bridge after down");
    });

    test("a compose project on the external network weave: reachable by service name from inside and by weaveDNS name from outside it; down leaves the network", async () => {
      const project = uniq("ce");
      const veths = await weaveVeths(host);
      const gw = await gatewayOf(host, "weave");
      ok(await compose("compose-external", project, ["up", "-d"]), "docker-compose up");
      const [web, client] = [`${project}_web_1`, `${project}_client_1`];
      const ipWeb = await containerIp(host, web, "weave");
      await eventually(
        "client fetches http://web/ by service name",
        async () => (await fetch(client, "http://web/")) === "hello from web",
      );
      // A container outside the project, on `weave` with weaveDNS, finds the service by name.
      const outsider = await runSleeper(host, uniq("x"), ["--net=weave", ...dnsFlags(gw)]);
      await eventually("the outsider resolves web.weave.local", () =>
        resolves(host, outsider, "web.weave.local", ipWeb),
      );
      assert.equal(await fetch(outsider, "http://web.weave.local/"), "hello from web");

      ok(await compose("compose-external", project, ["down"]), "docker-compose down");
      ok(await host.docker(["rm", "-f", outsider]));
      await assertNothingLeft(project, veths);
      ok(await host.docker(["network", "inspect", "weave"]), "the external network stays");
      assert.equal(
        (await weaveStatus(host)).networks.find((n) => n.name === "weave")?.endpoints,
        0,
        "no endpoint left on weave",
      );
      await eventually(
        "web.weave.local is gone",
        async () => (await dig(host, gw, "web.weave.local")).length === 0,
      );
    });
  },
);
