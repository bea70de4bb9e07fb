/**
 * EtcdStore over TLS against a real etcd (Debian's etcd-server) run with --client-cert-auth, with a
 * throwaway CA, server and client certificate made by `openssl` in a temp dir: the ClusterStore
 * contract over https with a client certificate, rejection without one, and fail-over past dead and
 * silent endpoints. Then, on a plain-http etcd, that a watch notices an etcd that stops answering
 * (SIGSTOP) or dies (SIGKILL), and that an IPv6 store URL works. Every etcd is started here on free
 * loopback ports and stopped by its PID.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseStoreUrl } from "../../src/config/index.js";
import { isWeaveError, type WeaveError } from "../../src/core/index.js";
import { EtcdStore, loadStoreTls } from "../../src/store/index.js";
import type { EtcdStoreOptions, WatchEvent } from "../../src/store/index.js";
import { clusterStoreContract } from "../helpers/cluster-store-contract.js";
import { makeCertificates } from "../helpers/certificates.js";
import { which } from "./helpers/netns.js";

/** Why a suite needing `tools` cannot run here, or undefined. Under CI=true a skip is a failure. */
function missingTools(tools: readonly string[]): string | undefined {
  const absent = tools.filter((t) => which(t) === undefined);
  if (absent.length === 0) return undefined;
  const reason = `needs ${absent.join(", ")} (not installed; scripts/test.sh installs the test packages)`;
  if (process.env["CI"] === "true") throw new Error(`${reason} (CI=true: a skipped test is a failure)`);
  return reason;
}
const missingForTls = missingTools(["etcd", "openssl"]);
const missingForWatch = missingTools(["etcd"]);

/** A loopback TCP port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Starts etcd on free loopback ports with `extra` flags; resolves once `probe` can read from it. */
async function startEtcd(
  dir: string,
  clientUrls: (port: number) => string[],
  extra: string[],
  probe: (urls: string[]) => EtcdStore,
): Promise<{ process: ChildProcess; urls: string[]; port: number }> {
  const port = await freePort();
  const peer = `http://127.0.0.1:${await freePort()}`;
  const urls = clientUrls(port);
  const child = spawn(
    "etcd",
    [
      "--data-dir",
      join(dir, `data-${port}`),
      "--listen-client-urls",
      urls.join(","),
      "--advertise-client-urls",
      urls[0] ?? "",
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `default=${peer}`,
      ...extra,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
  const store = probe(urls);
  try {
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      try {
        await store.get("/probe");
        return { process: child, urls, port };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await store.close();
  }
  if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  throw new Error(`etcd did not start: ${stderr}`);
}

function stopEtcd(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Resolves with the WeaveError `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<WeaveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isWeaveError(err), `expected a WeaveError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a rejection");
}

void describe(
  "EtcdStore over TLS with client certificates",
  { skip: missingForTls ?? false, timeout: 180_000 },
  () => {
    let dir = "";
    let etcd: ChildProcess | undefined;
    let live = "";
    let tls: EtcdStoreOptions["tls"];
    const silent: Socket[] = [];
    let silentServer: Server | undefined;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "weave-etcd-tls-"));
      await makeCertificates(dir);
      const loaded = await loadStoreTls(
        { ca: join(dir, "ca.pem"), cert: join(dir, "client.pem"), key: join(dir, "client.key") },
        ["http://127.0.0.1:1"],
      );
      assert.deepEqual(loaded.endpoints, ["https://127.0.0.1:1"], "TLS files switch the endpoints to https");
      tls = loaded.tls;
      const started = await startEtcd(
        dir,
        (port) => [`https://127.0.0.1:${port}`],
        [
          "--cert-file",
          join(dir, "server.pem"),
          "--key-file",
          join(dir, "server.key"),
          "--trusted-ca-file",
          join(dir, "ca.pem"),
          "--client-cert-auth",
        ],
        (urls) => new EtcdStore({ endpoints: urls, timeoutMs: 500, ...(tls ? { tls } : {}) }),
      );
      etcd = started.process;
      live = started.urls[0] ?? "";
    });

    after(async () => {
      stopEtcd(etcd);
      for (const s of silent) s.destroy();
      await new Promise((r) => (silentServer ? silentServer.close(r) : r(undefined)));
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const store = (endpoints: string[], options: Partial<EtcdStoreOptions> = {}) =>
      new EtcdStore({ endpoints, timeoutMs: 2_000, ...(tls ? { tls } : {}), ...options });

    clusterStoreContract(
      "etcd-tls",
      async () => store([live]),
      async () => new Promise((r) => setTimeout(r, 3_000)),
    );

    void it("etcds:// store URL plus the PEM files reach etcd", async () => {
      const url = parseStoreUrl(`etcds://127.0.0.1:${new URL(live).port}`);
      const files = { ca: join(dir, "ca.pem"), cert: join(dir, "client.pem"), key: join(dir, "client.key") };
      const s = new EtcdStore({ ...(await loadStoreTls(files, url.endpoints)), timeoutMs: 2_000 });
      await s.put("/weave-test/tls/url", "yes");
      assert.equal((await s.get("/weave-test/tls/url"))?.value, "yes");
      await s.close();
    });

    void it("a client without a client certificate is rejected with a clear error", async (t) => {
      const s = new EtcdStore({ endpoints: [live], timeoutMs: 2_000, tls: { ca: tls?.ca ?? "" } });
      const err = await rejection(s.get("/weave-test/tls/x"));
      t.diagnostic(err.message);
      assert.ok(["WEAVE_TIMEOUT", "WEAVE_STATE"].includes(err.code), err.code);
      assert.match(err.message, /refused the TLS connection/, `unclear: "${err.message}"`);
      assert.match(err.message, /client certificate/);
      assert.ok(err.message.includes(live), `"${err.message}" should name ${live}`);
      await s.close();
    });

    void it("a client that does not trust etcd's CA is rejected with a clear error", async (t) => {
      const s = new EtcdStore({ endpoints: [live], timeoutMs: 2_000 });
      const err = await rejection(s.get("/weave-test/tls/x"));
      t.diagnostic(err.message);
      assert.equal(err.code, "WEAVE_TIMEOUT");
      assert.ok(
        err.message.startsWith(`Cannot verify the TLS certificate of etcd at ${live}`),
        `unclear: "${err.message}"`,
      );
      assert.match(err.message, /give the CA/);
      await s.close();
    });

    void it("fails over at once past a dead endpoint, and after the timeout past a silent one", async () => {
      const dead = `https://127.0.0.1:${await freePort()}`;
      const s = store([dead, live]);
      let t = Date.now();
      await s.put("/weave-test/tls/failover", "1");
      assert.ok(
        Date.now() - t < 1_000,
        `a refused connection should fail over at once, took ${Date.now() - t} ms`,
      );
      await s.close();

      // Accepts connections and never says a word (a hung host): costs one timeout.
      silentServer = createServer((socket) => silent.push(socket));
      await new Promise<void>((resolve) => silentServer?.listen(0, "127.0.0.1", resolve));
      const address = silentServer.address();
      const hung = `https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
      const s2 = store([hung, live], { timeoutMs: 500 });
      t = Date.now();
      assert.equal((await s2.get("/weave-test/tls/failover"))?.value, "1");
      assert.ok(Date.now() - t < 2_000, `took ${Date.now() - t} ms`);
      // The answering endpoint is now preferred: the next call goes straight to it.
      t = Date.now();
      await s2.get("/weave-test/tls/failover");
      assert.ok(Date.now() - t < 400, `took ${Date.now() - t} ms`);

      // A watch on the silent endpoint fails after the timeout, and the next one goes to the live one.
      const s3 = store([hung, live], { timeoutMs: 500 });
      const failed = await new Promise<Error>((resolve) =>
        s3.watch("/weave-test/tls/", 1, () => undefined, resolve),
      );
      assert.ok(isWeaveError(failed, "WEAVE_TIMEOUT"), String(failed));
      const events: WatchEvent[] = [];
      const errors: Error[] = [];
      const w = s3.watch(
        "/weave-test/tls/failover",
        1,
        (e) => events.push(e),
        (e) => errors.push(e),
      );
      for (let i = 0; i < 50 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      w.close();
      assert.deepEqual(errors, []);
      assert.equal(events[0]?.key, "/weave-test/tls/failover");
      await s2.close();
      await s3.close();
    });
  },
);

void describe(
  "EtcdStore watch when etcd stops answering",
  { skip: missingForWatch ?? false, timeout: 120_000 },
  () => {
    let dir = "";
    let etcd: ChildProcess | undefined;
    let endpoint = "";
    let port = 0;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "weave-etcd-watch-"));
      const started = await startEtcd(
        dir,
        (p) => [`http://127.0.0.1:${p}`, `http://[::1]:${p}`],
        [],
        (urls) => new EtcdStore({ endpoints: urls.slice(0, 1), timeoutMs: 500 }),
      );
      etcd = started.process;
      endpoint = started.urls[0] ?? "";
      port = started.port;
    });

    after(() => {
      if (etcd?.pid !== undefined) stopEtcd(etcd, "SIGCONT");
      stopEtcd(etcd);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Opens a watch and waits until it delivers an event, so it is known to be established. */
    async function establishedWatch(s: EtcdStore, key: string): Promise<{ errors: Error[]; close(): void }> {
      const rev = await s.put(key, "1");
      const events: WatchEvent[] = [];
      const errors: Error[] = [];
      const w = s.watch(
        key,
        rev,
        (e) => events.push(e),
        (e) => errors.push(e),
      );
      for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(events.length, 1, "the watch delivers the put");
      return { errors, close: () => w.close() };
    }

    async function waitForError(errors: Error[], withinMs: number): Promise<number> {
      const t = Date.now();
      while (errors.length === 0 && Date.now() - t < withinMs) await new Promise((r) => setTimeout(r, 50));
      return Date.now() - t;
    }

    void it("an etcd:// URL with an IPv6 host works", async () => {
      const s = new EtcdStore({
        endpoints: parseStoreUrl(`etcd://[::1]:${port}`).endpoints,
        timeoutMs: 2_000,
      });
      await s.put("/weave-test/v6", "ok");
      assert.equal((await s.get("/weave-test/v6"))?.value, "ok");
      await s.close();
    });

    void it("a watch on an etcd that hangs (SIGSTOP) calls onError after failed liveness checks", async (t) => {
      const s = new EtcdStore({ endpoints: [endpoint], timeoutMs: 1_000, watchCheckMs: 1_000 });
      const w = await establishedWatch(s, "/weave-test/watch/stop");
      if (etcd?.pid) process.kill(etcd.pid, "SIGSTOP");
      try {
        const took = await waitForError(w.errors, 10_000);
        assert.equal(w.errors.length, 1, `no onError within ${took} ms`);
        t.diagnostic(`onError after ${took} ms: ${w.errors[0]?.message ?? ""}`);
        assert.ok(isWeaveError(w.errors[0], "WEAVE_TIMEOUT"), String(w.errors[0]));
        assert.match(w.errors[0]?.message ?? "", /liveness checks/);
      } finally {
        if (etcd?.pid) process.kill(etcd.pid, "SIGCONT");
        w.close();
        await s.close();
      }
    });

    void it("a watch on an etcd that is killed (SIGKILL) calls onError within 15 s", async (t) => {
      const s = new EtcdStore({ endpoints: [endpoint] });
      const w = await establishedWatch(s, "/weave-test/watch/kill");
      stopEtcd(etcd, "SIGKILL");
      const took = await waitForError(w.errors, 15_000);
      assert.equal(w.errors.length, 1, `no onError within ${took} ms`);
      t.diagnostic(`onError after ${took} ms: ${w.errors[0]?.message ?? ""}`);
      assert.ok(isWeaveError(w.errors[0]), String(w.errors[0]));
      w.close();

      // A new watch on the dead endpoint reports the refused connection at once.
      const again: Error[] = [];
      s.watch(
        "/weave-test/watch/kill",
        1,
        () => undefined,
        (e) => again.push(e),
      );
      const waited = await waitForError(again, 5_000);
      assert.equal(again.length, 1, `no onError within ${waited} ms`);
      assert.ok(waited < 1_000, `a refused watch should fail at once, took ${waited} ms`);
      assert.ok(isWeaveError(again[0], "WEAVE_TIMEOUT"), String(again[0]));
      assert.match(again[0]?.message ?? "", /Cannot reach etcd/);
      await s.close();
    });
  },
);
