/**
 * Forwarding of names outside the weave domain, with dnsmasq as the upstream on 127.0.53.x.
 * Explicit `ip:port` upstreams run unprivileged; following a resolv.conf needs upstreams on
 * port 53 (resolv.conf has no port syntax), so that test needs root. Missing tools or root skip,
 * except under CI=true, where they fail.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execFile, isWeaveError, silentLogger } from "../../src/core/index.js";
import { DnsServer, type DnsUpstreamOptions, Zone } from "../../src/dns/index.js";

const TOOLS = ["dig", "dnsmasq"];
const WEAVE = "127.0.53.20";
const UP_A = "127.0.53.21";
const UP_B = "127.0.53.22";
const DEAD = "127.0.53.23";

function missing(needRoot: boolean): string | undefined {
  const dirs = (process.env["PATH"] ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  const absent = TOOLS.filter((t) => !dirs.some((d) => existsSync(join(d, t))));
  if (absent.length) return `not installed: ${absent.join(", ")}`;
  if (needRoot && process.getuid?.() !== 0) return "needs root (upstreams on port 53)";
  return undefined;
}

const skipUnless = (needRoot: boolean): string | false =>
  process.env["CI"] === "true" ? false : (missing(needRoot) ?? false);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const randomPort = (): number => 20_000 + Math.floor(Math.random() * 40_000);

async function dig(
  addr: string,
  port: number,
  args: string[],
): Promise<{ status: string; answers: string[]; raw: string }> {
  const res = await execFile("dig", [`@${addr}`, "-p", String(port), "+time=4", "+tries=1", ...args], {
    check: false,
    timeoutMs: 15_000,
  });
  const raw = res.stdout;
  const start = raw.indexOf(";; ANSWER SECTION:\n");
  const body = start < 0 ? [] : raw.slice(start).split("\n").slice(1);
  const end = body.indexOf("");
  const answers = body.slice(0, end < 0 ? undefined : end).map((l) => l.split(/\s+/)[4] ?? "");
  return { status: /status: (\w+)/.exec(raw)?.[1] ?? `no reply (exit ${res.code})`, answers, raw };
}

/** dnsmasq processes started by this file, killed by PID in after(). */
class Upstreams {
  private readonly children: ChildProcess[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), "weave-dns-fwd-"));

  constructor() {
    chmodSync(this.dir, 0o755); // dnsmasq started as root reads files as "nobody"
  }

  /** Starts dnsmasq on addr:port answering outside.test with `ip`, plus `extra` flags. */
  async start(addr: string, port: number, ip: string, extra: string[] = []): Promise<ChildProcess> {
    const child = spawn(
      "dnsmasq",
      [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--bind-interfaces",
        `--listen-address=${addr}`,
        `--port=${port}`,
        `--address=/outside.test/${ip}`,
        ...extra,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.children.push(child);
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    for (let i = 0; i < 50; i++) {
      if (child.exitCode !== null) throw new Error(`dnsmasq on ${addr}:${port} exited: ${stderr}`);
      if ((await dig(addr, port, ["outside.test", "+time=1"])).answers.includes(ip)) return child;
      await sleep(100);
    }
    throw new Error(`dnsmasq on ${addr}:${port} does not answer`);
  }

  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) await this.stop(c);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A DnsServer on WEAVE:<random port>; `upstream` may depend on that port. */
async function startServer(
  upstream: DnsUpstreamOptions | ((port: number) => DnsUpstreamOptions),
): Promise<[DnsServer, number]> {
  for (let attempt = 0; ; attempt++) {
    const port = randomPort();
    const options = typeof upstream === "function" ? upstream(port) : upstream;
    const zone = new Zone();
    zone.set("c1", [{ name: "db", ipv4: ["10.32.0.5"] }]);
    const server = new DnsServer({ zone, logger: silentLogger, port, upstream: options });
    try {
      await server.start();
      await server.setAddresses([WEAVE]);
      return [server, port];
    } catch (err) {
      await server.close();
      if (attempt > 5 || !isWeaveError(err, "WEAVE_CONFLICT")) throw err;
    }
  }
}

void describe("DNS forwarding to dnsmasq upstreams", { skip: skipUnless(false) }, () => {
  const ups = new Upstreams();
  const upPort = randomPort();
  let upA: ChildProcess;
  before(async () => {
    const why = missing(false);
    if (why) throw new Error(`DNS forwarding tests cannot run: ${why}`);
    const hosts = join(ups.dir, "many");
    writeFileSync(
      hosts,
      Array.from({ length: 60 }, (_, i) => `192.0.2.${i + 1} many.test`).join("\n") + "\n",
    );
    chmodSync(hosts, 0o644);
    upA = await ups.start(UP_A, upPort, "192.0.2.7", [`--addn-hosts=${hosts}`, "--edns-packet-max=512"]);
  });
  after(() => ups.cleanup());

  void it("forwards over UDP and TCP to an explicit ip:port upstream, zone names stay local", async () => {
    const [server, port] = await startServer({ servers: [`${UP_A}:${upPort}`] });
    try {
      assert.deepEqual((await dig(WEAVE, port, ["outside.test"])).answers, ["192.0.2.7"]);
      assert.deepEqual((await dig(WEAVE, port, ["+tcp", "outside.test"])).answers, ["192.0.2.7"]);
      assert.deepEqual((await dig(WEAVE, port, ["db.weave.local"])).answers, ["10.32.0.5"]);
    } finally {
      await server.close();
    }
  });

  void it("handles truncated upstream answers: TC to small clients, TCP retry when the client takes more", async () => {
    const [server, port] = await startServer({ servers: [`${UP_A}:${upPort}`] });
    try {
      const plain = await dig(WEAVE, port, ["+noedns", "many.test"]);
      assert.match(plain.raw, /Truncated, retrying in TCP mode/);
      assert.equal(plain.answers.length, 60);
      // dnsmasq truncates at 512 (--edns-packet-max); we fetch it over TCP and it fits 1400.
      const big = await dig(WEAVE, port, ["+bufsize=1400", "+ignore", "many.test"]);
      assert.doesNotMatch(big.raw, /flags:[a-z ]* tc/);
      assert.equal(big.answers.length, 60);
    } finally {
      await server.close();
    }
  });

  void it("answers SERVFAIL within the timeout when the upstream is dead, and never queries itself", async () => {
    const [server, port] = await startServer({ servers: [`${DEAD}:${upPort}`], timeoutMs: 500 });
    try {
      const t0 = performance.now();
      assert.equal((await dig(WEAVE, port, ["outside.test"])).status, "SERVFAIL");
      const took = performance.now() - t0;
      assert.ok(took >= 400 && took < 2500, `SERVFAIL after ${took.toFixed(0)} ms`);
    } finally {
      await server.close();
    }
    // Its own address and port as the only upstream: excluded, so SERVFAIL at once, no loop.
    const [loop, loopPort] = await startServer((p) => ({ servers: [`${WEAVE}:${p}`], timeoutMs: 500 }));
    try {
      const t0 = performance.now();
      assert.equal((await dig(WEAVE, loopPort, ["outside.test"])).status, "SERVFAIL");
      assert.ok(performance.now() - t0 < 400, "no forwarding attempt");
    } finally {
      await loop.close();
    }
  });

  void it("answers SERVFAIL after the upstream process is killed", async () => {
    const port2 = randomPort();
    const doomed = await ups.start(UP_B, port2, "192.0.2.9");
    const [server, port] = await startServer({ servers: [`${UP_B}:${port2}`], timeoutMs: 500 });
    try {
      assert.deepEqual((await dig(WEAVE, port, ["outside.test"])).answers, ["192.0.2.9"]);
      await ups.stop(doomed);
      assert.equal((await dig(WEAVE, port, ["outside.test"])).status, "SERVFAIL");
    } finally {
      await server.close();
    }
    assert.ok(upA.exitCode === null, "the other upstream is untouched");
  });
});

void describe(
  "DNS forwarding follows resolv.conf (root: upstreams on port 53)",
  { skip: skipUnless(true) },
  () => {
    const ups = new Upstreams();
    before(async () => {
      const why = missing(true);
      if (why) throw new Error(`resolv.conf forwarding test cannot run: ${why}`);
      await ups.start(UP_A, 53, "192.0.2.7");
      await ups.start(UP_B, 53, "192.0.2.8");
    });
    after(() => ups.cleanup());

    void it("re-reads resolv.conf when it changes", async () => {
      const resolvConf = join(ups.dir, "resolv.conf");
      writeFileSync(resolvConf, `# test\nnameserver ${UP_A}\n`);
      const [server, port] = await startServer({ resolvConf, timeoutMs: 500 });
      try {
        assert.deepEqual((await dig(WEAVE, port, ["outside.test"])).answers, ["192.0.2.7"]);
        writeFileSync(resolvConf, `nameserver ${UP_B}\n`);
        let got: string[] = [];
        const t0 = performance.now();
        while (performance.now() - t0 < 5000) {
          got = (await dig(WEAVE, port, ["outside.test"])).answers;
          if (got[0] === "192.0.2.8") break;
          await sleep(200);
        }
        assert.deepEqual(got, ["192.0.2.8"]);
        assert.ok(performance.now() - t0 < 2500, "followed within about a second");
      } finally {
        await server.close();
      }
    });
  },
);
