/**
 * End to end: weave's sockets under load and under slow clients, on one Docker host.
 * - Hundreds of concurrent `docker run`s with idle gaps longer than Node's old keep-alive timeout
 *   between batches: not one fails (Docker's plugin client reuses idle connections at any time
 *   and retries a broken call with an empty body, so a connection closed under it fails a start).
 * - A container holding hundreds of trickling TCP connections to its network's DNS address: UDP
 *   and TCP DNS still answer within 1 s for a container on another network and on the same one.
 * - Hundreds of stalled connections on the plugin socket: `docker run` takes at most 1 s more.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { REPO_ROOT, requireE2E, run, TEST_IMAGE } from "./harness/index.js";
import { containerIp, eventually, launchedHost, ok, runSleeper, uniq, weaveNetwork } from "./lib.js";

const skip = requireE2E(["dig"]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A slow-client attacker process (test/e2e/slow-clients.ts); its last status line is kept. */
class Attacker {
  last = "";
  /** Most connections the server kept open for at least a second, over all status lines. */
  maxHeld = 0;
  private readonly child: ChildProcess;
  private readonly done: Promise<void>;

  constructor(argv: readonly string[]) {
    this.child = spawn(argv[0] ?? "node", argv.slice(1), {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.setEncoding("utf8");
    this.child.stdout?.on("data", (d: string) => {
      for (const line of d.trim().split("\n")) {
        this.last = line;
        this.maxHeld = Math.max(this.maxHeld, Number(/held (\d+)/.exec(line)?.[1] ?? "0"));
      }
    });
    this.child.stderr?.on("data", () => undefined);
    this.done = new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  /** Ends the process by its PID and waits for it. */
  async stop(): Promise<void> {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, "SIGKILL");
    await this.done;
  }
}

const SLOW_CLIENTS = `${REPO_ROOT}/test/e2e/slow-clients.ts`;

/** `docker run -d` of a sleeper; resolves with the elapsed ms and the result. */
async function timedRun(
  host: Host,
  name: string,
  net: string,
): Promise<{ ms: number; code: number; err: string }> {
  const t0 = Date.now();
  const res = await host.docker(["run", "-d", "--name", name, `--net=${net}`, TEST_IMAGE, "sleep", "3600"], {
    timeoutMs: 120_000,
  });
  return { ms: Date.now() - t0, code: res.code, err: res.stderr.trim() };
}

/** Removes containers by exact name, 50 per command. */
async function removeAll(host: Host, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    await host.docker(["rm", "-f", ...names.slice(i, i + 50)], { timeoutMs: 120_000 });
  }
}

/** Lines of weave's log that report a rejected plugin call (HTTP 400: a malformed request). */
async function rejectedCalls(host: Host): Promise<string[]> {
  const log = ok(await host.sh("cat /var/log/weave.log"));
  return log.split("\n").filter((l) => l.includes('"plugin call failed"') && l.includes('"status":400'));
}

describe("weave's sockets under load and slow clients", { skip, timeout: 1_500_000 }, () => {
  let host: Host;

  before(async () => {
    host = await launchedHost("sock");
  });

  after(async () => {
    await host?.destroy();
  });

  test("300 concurrent starts with idle gaps longer than 5 s between batches: none fails", async (t) => {
    const net = uniq("ka");
    await weaveNetwork(host, "--subnet", "10.96.0.0/22", net); // room for 300
    const TOTAL = 300;
    const BATCH = 20;
    const names: string[] = [];
    const failures: string[] = [];
    const t0 = Date.now();
    try {
      for (let b = 0; b * BATCH < TOTAL; b++) {
        const batch = Array.from({ length: BATCH }, (_, i) => `${net}-${b * BATCH + i}`);
        names.push(...batch);
        const results = await Promise.all(batch.map((n) => timedRun(host, n, net)));
        results.forEach((r, i) => {
          if (r.code !== 0) failures.push(`${batch[i]}: ${r.err}`);
        });
        // Idle gaps of 6-8 s after every 3rd batch: Docker's kept-alive connections sit idle
        // longer than Node's default keep-alive timeout, then are reused by the next batch.
        if (b % 3 === 2 && (b + 1) * BATCH < TOTAL) await sleep(6_000 + (Math.floor(b / 3) % 3) * 1_000);
      }
      t.diagnostic(`${TOTAL} starts in ${Math.round((Date.now() - t0) / 1000)} s, ${failures.length} failed`);
      assert.deepEqual(failures, [], "every docker run succeeds");
      assert.deepEqual(await rejectedCalls(host), [], "no plugin call arrived malformed");
    } finally {
      await removeAll(host, names);
      await host.docker(["network", "rm", net]);
    }
    assert.deepEqual(await rejectedCalls(host), [], "no malformed call while removing either");
  });

  test("slow TCP clients on one network's DNS leave DNS answering within 1 s for others", async (t) => {
    const [netA, netB] = [uniq("dsa"), uniq("dsb")];
    await weaveNetwork(host, netA);
    await weaveNetwork(host, netB);
    const gateway = async (n: string): Promise<string> =>
      ok(await host.docker(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", n]));
    const [gwA, gwB] = [await gateway(netA), await gateway(netB)];
    const atk = await runSleeper(host, uniq("atk"), [`--net=${netA}`]);
    const nbr = await runSleeper(host, uniq("nbr"), [`--net=${netA}`]);
    const cli = await runSleeper(host, uniq("cli"), [`--net=${netB}`]);
    const tgt = await runSleeper(host, uniq("tgt"), [`--net=${netB}`]);
    const containers = [atk, nbr, cli, tgt];
    const pid = async (c: string): Promise<string> =>
      ok(await host.docker(["inspect", "-f", "{{.State.Pid}}", c]));
    /**
     * dig from inside container `c`'s network namespace (giving up after 1 s): the addresses
     * answered and dig's own query time in ms (-1 without an answer).
     */
    const dig = async (c: string, server: string, name: string, tcp: boolean) => {
      const res = await run([
        ...["nsenter", "-t", await pid(c), "-n", "dig", tcp ? "+tcp" : "+notcp"],
        ...["+time=1", "+tries=1", "+noall", "+answer", "+stats", `@${server}`, name],
      ]);
      const lines = res.stdout.split("\n");
      return {
        ms: Number(/Query time: (\d+) msec/.exec(res.stdout)?.[1] ?? "-1"),
        answers: lines.filter((l) => /\sIN\s+A\s/.test(l)).map((l) => l.split(/\s+/).pop() ?? ""),
      };
    };
    const [ipTgt, ipNbr] = [await containerIp(host, tgt, netB), await containerIp(host, nbr, netA)];
    await eventually("names registered", async () => {
      const b = await dig(cli, gwB, `${tgt}.weave.local`, false);
      const a = await dig(nbr, gwA, `${nbr}.weave.local`, false);
      return b.answers.includes(ipTgt) && a.answers.includes(ipNbr);
    });
    const attacker = new Attacker(
      ["nsenter", "-t", await pid(atk), "-n", "node", "--import", "tsx"].concat(
        SLOW_CLIENTS,
        "dns",
        gwA,
        "53",
        "300",
      ),
    );
    try {
      await sleep(3_000);
      const worst = { udp: 0, tcp: 0 };
      for (let round = 0; round < 5; round++) {
        for (const tcp of [false, true]) {
          for (const [c, server, name, ip] of [
            [cli, gwB, tgt, ipTgt],
            [nbr, gwA, nbr, ipNbr],
          ] as const) {
            const r = await dig(c, server, `${name}.weave.local`, tcp);
            assert.ok(
              r.answers.includes(ip),
              `${tcp ? "TCP" : "UDP"} answer from ${c}: ${r.answers.join(" ")}`,
            );
            assert.ok(r.ms >= 0 && r.ms < 1_000, `${tcp ? "TCP" : "UDP"} query from ${c} took ${r.ms} ms`);
            worst[tcp ? "tcp" : "udp"] = Math.max(worst[tcp ? "tcp" : "udp"], r.ms);
          }
        }
        await sleep(500);
      }
      t.diagnostic(
        `attacker: ${attacker.last}, held at most ${attacker.maxHeld}; slowest answer UDP ${worst.udp} ms, TCP ${worst.tcp} ms`,
      );
      const held = attacker.maxHeld;
      assert.ok(held >= 1 && held <= 8, `the attacker held ${held} connections, its budget is 8`);
    } finally {
      await attacker.stop();
      await removeAll(host, containers);
      await host.docker(["network", "rm", netA, netB]);
    }
  });

  test("stalled connections on the plugin socket: docker run takes at most 1 s more", async (t) => {
    const net = uniq("pa");
    await weaveNetwork(host, net);
    const names: string[] = [];
    const runs = async (n: number): Promise<number[]> => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const name = uniq("pr");
        names.push(name);
        const r = await timedRun(host, name, net);
        assert.equal(r.code, 0, `docker run failed: ${r.err}`);
        ms.push(r.ms);
      }
      return ms;
    };
    try {
      const baseline = (await runs(3)).sort((a, b) => a - b)[1] ?? 0;
      const socket = host.rootPath("/run/docker/plugins/weave.sock");
      const attacker = new Attacker(["node", "--import", "tsx", SLOW_CLIENTS, "plugin", socket, "300"]);
      try {
        await sleep(3_000);
        const under = await runs(5);
        t.diagnostic(`baseline ${baseline} ms; under attack (${attacker.last}): ${under.join(", ")} ms`);
        for (const ms of under)
          assert.ok(ms <= baseline + 1_000, `docker run took ${ms} ms (baseline ${baseline})`);
      } finally {
        await attacker.stop();
      }
      const log = ok(await host.sh("cat /var/log/weave.log"));
      assert.match(log, /Too many open connections/, "the connection limit was reached and enforced");
      assert.deepEqual(await rejectedCalls(host), [], "no plugin call arrived malformed");
    } finally {
      await removeAll(host, names);
      await host.docker(["network", "rm", net]);
    }
  });
});
