/** Assertions and small scenarios shared by the e2e tests (on top of ./harness). */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { ExecResult, Host } from "./harness/index.js";
import { createHost, run, TEST_IMAGE } from "./harness/index.js";

/** Asserts a command succeeded, showing its output when it did not. */
export function ok(res: ExecResult, what = "command"): string {
  assert.equal(res.code, 0, `${what} failed (exit ${res.code}):\n${res.stderr}\n${res.stdout}`);
  return res.stdout.trim();
}

/** Asserts a command failed and returns its stderr. */
export function fails(res: ExecResult, what = "command"): string {
  assert.notEqual(res.code, 0, `${what} should have failed but printed:\n${res.stdout}`);
  return res.stderr;
}

/** Starts a detached container that sleeps; returns its name. */
export async function runSleeper(host: Host, name: string, args: readonly string[]): Promise<string> {
  ok(
    await host.docker(["run", "-d", "--name", name, ...args, TEST_IMAGE, "sleep", "3600"]),
    `docker run ${name}`,
  );
  return name;
}

/** The IPv4 address of a container on a network, from docker inspect. */
export async function containerIp(host: Host, container: string, network: string): Promise<string> {
  const out = ok(
    await host.docker([
      "inspect",
      "-f",
      `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
      container,
    ]),
  );
  assert.match(out, /^\d+\.\d+\.\d+\.\d+$/, `container ${container} has no address on ${network}`);
  return out;
}

/** True when `container` gets an answer to 2 pings of `ip` (1 s timeout each). */
export async function canPing(host: Host, container: string, ip: string): Promise<boolean> {
  const res = await host.docker(["exec", container, "ping", "-c", "2", "-W", "1", ip]);
  return res.code === 0;
}

/** Names of the weave-owned veths (host ends) in the host's network namespace. */
export async function weaveVeths(host: Host): Promise<string[]> {
  const out = ok(await host.sh("ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1"));
  return out.split("\n").filter((n) => /^vw[ep]/.test(n));
}

/** A unique short name for test objects. */
export function uniq(prefix: string): string {
  return `${prefix}${randomBytes(3).toString("hex")}`;
}

/** Parsed `weave status --json`. */
export interface StatusJson {
  version: string;
  socket: string;
  stateDir: string;
  networks: {
    id: string;
    name: string;
    bridge: string;
    subnets: string[];
    endpoints: number;
    internal: boolean;
  }[];
}

export async function weaveStatus(host: Host): Promise<StatusJson> {
  return JSON.parse(ok(await host.weave(["status", "--json"]), "weave status")) as StatusJson;
}

/** Waits until `check` resolves true, polling every 200 ms, or fails after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * An "outside world" for a host: a namespace linked to the host by a veth, 192.0.2.2 beyond
 * 192.0.2.1. Only traffic between namespaces the test made.
 */
export async function createOutside(host: Host): Promise<{ ip: string; destroy: () => Promise<void> }> {
  const id = randomBytes(3).toString("hex");
  const ns = `wvo-${id}`;
  const a = `wvoa${id}`;
  const b = `wvob${id}`;
  const sh = async (cmd: string) => ok(await run(["sh", "-c", cmd]), cmd);
  await sh(`ip netns add ${ns}`);
  await sh(`ip -n ${ns} link set lo up`);
  await sh(`ip -n ${host.name} link add ${a} type veth peer name ${b} netns ${ns}`);
  await sh(`ip -n ${host.name} addr add 192.0.2.1/24 dev ${a} && ip -n ${host.name} link set ${a} up`);
  await sh(`ip -n ${ns} addr add 192.0.2.2/24 dev ${b} && ip -n ${ns} link set ${b} up`);
  return {
    ip: "192.0.2.2",
    destroy: async () => {
      await run(["ip", "-n", host.name, "link", "del", a]);
      await run(["ip", "netns", "del", ns]);
    },
  };
}

/**
 * `docker network create -d weave --ipam-driver weave [args...]`; the last argument is the name.
 * Returns the network's ID.
 */
export async function weaveNetwork(host: Host, ...args: string[]): Promise<string> {
  const name = args[args.length - 1] ?? "";
  ok(
    await host.docker(["network", "create", "-d", "weave", "--ipam-driver", "weave", ...args]),
    `network create ${name}`,
  );
  return ok(await host.docker(["network", "inspect", "-f", "{{.Id}}", name]));
}

/** A host with the test image loaded and weave launched. */
export async function launchedHost(name: string, options: { dockerdArgs?: string[] } = {}): Promise<Host> {
  const host = await createHost({ name, ...options });
  await host.loadTestImage();
  ok(await host.weave(["launch"]), "weave launch");
  return host;
}
