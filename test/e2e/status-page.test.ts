/**
 * End to end: the status server of a weave daemon launched as a user would, with a real dockerd.
 * Prometheus metrics count the plugin calls Docker made, the DNS queries weaveDNS answered and the
 * IPAM pools in use; /status.json is `weave status --json`; and the status page, opened in headless
 * Chromium inside the host, draws the network and its containers (checked in the DOM and in a
 * 1280x800 screenshot).
 *
 * Set WEAVE_E2E_ARTIFACTS=DIR to keep the screenshot (DIR/status.png) and the DOM (DIR/status.html).
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Host } from "./harness/index.js";
import { requireE2E } from "./harness/index.js";
import {
  containerIp,
  eventually,
  launchedHost,
  ok,
  runSleeper,
  uniq,
  weaveNetwork,
  weaveStatus,
} from "./lib.js";
import { chromiumArgs, keep } from "./chromium.js";
import { colourCounts, decodePng, pixelAt, pngSize } from "./png.js";
import { pageLinks } from "./status-cluster-check.js";

const skip = requireE2E(["chromium", "curl", "dig"]);

const STATUS = "http://127.0.0.1:6782";
const SUBNET = "10.47.0.0/24";
const GATEWAY = "10.47.0.1";

/** Parses exposition text into `series -> value` (series as written, e.g. `x{a="b"}`). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

describe("status server: metrics, status.json and the status page", { skip, timeout: 600_000 }, () => {
  let host: Host;
  let net: string;
  let names: string[];
  let ips: string[];
  let scratch: string;

  const curl = async (path: string) =>
    ok(await host.sh(`curl -sSf --max-time 10 ${STATUS}${path}`), `GET ${path}`);
  const metrics = async () => parseMetrics(await curl("/metrics"));

  before(async () => {
    host = await launchedHost("status");
    scratch = join(host.dir, "chromium");
    mkdirSync(scratch, { recursive: true });
    net = uniq("statusnet");
    await weaveNetwork(host, "--subnet", SUBNET, net);
    names = [uniq("web"), uniq("db")];
    for (const n of names) await runSleeper(host, n, [`--net=${net}`]);
    ips = await Promise.all(names.map((n) => containerIp(host, n, net)));
  });

  after(async () => {
    await host?.destroy();
  });

  test("listens on the loopback address only, by default", async () => {
    const listening = ok(await host.sh("ss -Hltn 'sport = :6782'"));
    assert.match(listening, /127\.0\.0\.1:6782/);
    assert.doesNotMatch(listening, /(0\.0\.0\.0|\*|\[::\]):6782/);
  });

  test("/metrics counts plugin calls, DNS queries and IPAM use", async () => {
    const type = ok(await host.sh(`curl -sS -o /dev/null -w '%{content_type}' ${STATUS}/metrics`));
    assert.equal(type, "text/plain; version=0.0.4; charset=utf-8");

    const m = await metrics();
    const createOk = 'weave_plugin_calls_total{method="NetworkDriver.CreateEndpoint",outcome="ok"}';
    assert.ok((m.get(createOk) ?? 0) >= 2, `${createOk} = ${m.get(createOk)}`);
    assert.ok((m.get('weave_plugin_calls_total{method="IpamDriver.RequestPool",outcome="ok"}') ?? 0) >= 1);
    const count = 'weave_plugin_call_duration_seconds_count{method="NetworkDriver.CreateEndpoint"}';
    assert.equal(m.get(count), m.get(createOk) ?? 0, "one latency observation per call");
    assert.equal(
      m.get('weave_plugin_call_duration_seconds_bucket{method="NetworkDriver.CreateEndpoint",le="+Inf"}'),
      m.get(count),
    );
    // Gateway and two containers out of 254 usable addresses.
    assert.equal(m.get(`weave_ipam_pool_addresses{pool="${SUBNET}"}`), 3);
    assert.equal(m.get(`weave_ipam_pool_size{pool="${SUBNET}"}`), 254);
    assert.ok((m.get("weave_networks") ?? 0) >= 2, "the default network and ours");
    assert.ok((m.get("weave_endpoints") ?? 0) >= 2);
    assert.equal(m.get('weave_peers{state="up"}'), 1);
    assert.equal(m.get("weave_docker_reachable"), 1);
    assert.ok([...m.keys()].some((k) => /^weave_build_info\{version="[^"]+"\}$/.test(k)));

    // A query to weaveDNS on the network's gateway is counted (workers report within a second).
    const key = 'weave_dns_queries_total{qtype="A",outcome="answer"}';
    const before = m.get(key) ?? 0;
    await eventually("the container's name resolves", async () => {
      const out = await host.sh(`dig +short +time=2 +tries=1 @${GATEWAY} ${names[0]}.weave.local`);
      return out.stdout.trim() === ips[0];
    });
    await eventually(`${key} counts the query`, async () => ((await metrics()).get(key) ?? 0) > before);
  });

  test("/status.json is what `weave status --json` prints", async () => {
    const fromHttp = JSON.parse(await curl("/status.json")) as Record<string, unknown>;
    const fromCli = (await weaveStatus(host)) as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(fromHttp).sort(), Object.keys(fromCli).sort());
    for (const k of ["version", "pid", "socket", "stateDir", "mtu", "networks", "defaultNetwork"])
      assert.deepEqual(fromHttp[k], fromCli[k], k);
    const ours = (fromHttp["networks"] as { name: string; subnets: string[]; endpoints: number }[]).find(
      (n) => n.name === net,
    );
    assert.deepEqual(ours?.subnets, [SUBNET]);
    assert.equal(ours?.endpoints, 2);
  });

  test("the status page draws the network and its containers in headless Chromium", async () => {
    const type = ok(await host.sh(`curl -sS -o /dev/null -w '%{content_type}' ${STATUS}/`));
    assert.equal(type, "text/html; charset=utf-8");

    const dump = await host.exec(
      [...chromiumArgs(join(scratch, "profile-dom")), "--dump-dom", `${STATUS}/`],
      {
        timeoutMs: 90_000,
      },
    );
    const dom = ok(dump, "chromium --dump-dom");
    keep("status.html", Buffer.from(dom));
    const svg = /<svg[\s\S]*<\/svg>/.exec(dom)?.[0] ?? "";
    assert.ok(svg !== "", `the page has an inline <svg>:\n${dom.slice(0, 500)}`);
    assert.ok(svg.includes(`data-network="${net}"`), "the network is drawn");
    assert.ok(svg.includes(SUBNET), "with its subnet");
    for (const [i, name] of names.entries()) {
      assert.ok(svg.includes(`data-container="${name}"`), `container ${name} is drawn`);
      assert.ok(svg.includes(`>${ips[i]}<`), `with its address ${ips[i]}`);
    }
    assert.ok(svg.includes("Docker reachable"));
    assert.ok(!svg.includes('class="cluster"'), "a host alone has no cluster section");
    assert.deepEqual(pageLinks(dom), [], "nor links to peers");

    const shot = join(scratch, "status.png");
    const res = await host.exec(
      [...chromiumArgs(join(scratch, "profile-shot")), `--screenshot=${shot}`, `${STATUS}/`],
      { timeoutMs: 90_000 },
    );
    ok(res, "chromium --screenshot");
    const png = readFileSync(host.rootPath(shot));
    keep("status.png", png);
    assert.deepEqual(pngSize(png), { width: 1280, height: 800 });
    const image = decodePng(png);
    const colours = colourCounts(image);
    assert.ok(colours.size > 50, `the screenshot is not blank (${colours.size} colours)`);
    assert.equal(pixelAt(image, 4, 4), "#0f172a", "the header band is drawn");
    // The network bar: one of the palette colours covers a good area (a 1184x44 bar is ~52,000 px).
    const palette = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#dc2626", "#0891b2", "#db2777", "#65a30d"];
    const bars = palette.filter((c) => (colours.get(c) ?? 0) > 20_000);
    assert.ok(bars.length >= 2, `two network bars are drawn (found ${bars.join(", ") || "none"})`);
  });
});
