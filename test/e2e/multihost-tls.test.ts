/**
 * weave across hosts with an etcd that wants TLS and client certificates (`--client-cert-auth`):
 * `--store etcds://...` with `--store-ca`, `--store-cert` and `--store-key`, on two dockerd hosts.
 * Without a client certificate weave runs but says why the store refuses it; a certificate without
 * its key is refused at launch; with all three files the hosts form a cluster and their containers
 * talk. The PKI is made by openssl for this test.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import type { Etcd, Host } from "./harness/index.js";
import { createHost, createUnderlay, destroyAll, HOSTS_DIR, requireE2E, startEtcd } from "./harness/index.js";
import { makeCertificates } from "../helpers/certificates.js";
import { canPing, containerIp, eventually, fails, ok, runSleeper, uniq } from "./lib.js";

const skip = requireE2E(["etcd", "openssl"]);

interface PeersJson {
  store: { reachable: boolean; error: string };
  peers: { name: string; state: string }[];
}

async function peersOf(host: Host): Promise<PeersJson> {
  return JSON.parse(ok(await host.weave(["status", "peers", "--json"]), "weave status peers")) as PeersJson;
}

void describe("weave across hosts with etcd over TLS", { skip }, () => {
  let etcd: Etcd;
  let pki = "";
  const hosts: Host[] = [];

  before(async () => {
    const underlay = await createUnderlay({ mtu: 1400 });
    pki = await mkdtemp(join(HOSTS_DIR, "pki-"));
    await makeCertificates(pki, [underlay.gateway]);
    etcd = await startEtcd(underlay, {
      tls: { cert: join(pki, "server.pem"), key: join(pki, "server.key"), ca: join(pki, "ca.pem") },
    });
    for (const name of ["tls1", "tls2"]) {
      const h = await createHost({ name });
      await underlay.attach(h);
      await h.loadTestImage();
      hosts.push(h);
    }
  });
  after(() => destroyAll());

  const base = (h: Host) => ["launch", "--store", etcd.url, "--advertise-addr", h.address, "--name", h.name];

  test("without a client certificate weave runs and says that the store refuses it", async () => {
    const [h] = hosts as [Host];
    const started = Date.now();
    const out = ok(await h.weave([...base(h), "--store-ca", join(pki, "ca.pem")]), "weave launch");
    assert.ok(Date.now() - started < 20_000, "weave launch does not wait for a store that refuses it");
    assert.match(out, /cluster store is not reachable yet .*certificate/);
    await eventually("the store's refusal is reported", async () => {
      const p = await peersOf(h);
      return !p.store.reachable && /certificate/i.test(p.store.error);
    });
    ok(await h.weave(["stop"]));
  });

  test("a client certificate without its key is refused at launch, naming the flag", async () => {
    const [h] = hosts as [Host];
    const err = fails(await h.weave([...base(h), "--store-cert", join(pki, "client.pem")]));
    assert.match(err, /--store-key/);
  });

  test("with the CA, a client certificate and its key the hosts form a cluster", async () => {
    for (const h of hosts) {
      ok(
        await h.weave([
          ...base(h),
          "--store-ca",
          join(pki, "ca.pem"),
          "--store-cert",
          join(pki, "client.pem"),
          "--store-key",
          join(pki, "client.key"),
        ]),
        `weave launch on ${h.name}`,
      );
    }
    const [h1, h2] = hosts as [Host, Host];
    await eventually("both hosts registered over TLS", async () => {
      const p = await peersOf(h1);
      return p.store.reachable && p.peers.filter((x) => x.state !== "gone").length === 2;
    });
    assert.ok((await etcd.keys("/weave/v1/peers/")).length === 2, "etcd holds both registrations");
    for (const h of hosts) {
      await eventually(
        `default network on ${h.name}`,
        async () => (await h.docker(["network", "inspect", "weave"])).code === 0,
        30_000,
      );
    }
    const a = await runSleeper(h1, uniq("a"), ["--net=weave"]);
    const b = await runSleeper(h2, uniq("b"), ["--net=weave"]);
    const ipB = await containerIp(h2, b, "weave");
    await eventually("a reaches b across hosts", () => canPing(h1, a, ipB), 10_000);
  });
});
