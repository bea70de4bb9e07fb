import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { createLogger, isWeaveError } from "../../../src/core/index.js";
import { EXPOSITION_CONTENT_TYPE, Registry } from "../../../src/metrics/index.js";
import { StatusServer, type StatusPicture, type StatusServerOptions } from "../../../src/status/index.js";

const picture: StatusPicture = {
  hostname: "node-1",
  generatedAt: "2024-05-02T09:14:03Z",
  status: {
    version: "0.1.0",
    pid: 1,
    mtu: 1450,
    docker: { status: "reachable", error: "" },
    networks: [
      {
        id: "n1",
        name: "weave",
        bridge: "weave",
        subnets: ["10.32.0.0/24"],
        gateways: [],
        internal: false,
        endpoints: 1,
      },
    ],
  },
  dns: null,
  containers: [
    { container: "web", containerId: "c1", network: "weave", endpoint: "e1", ip: "10.32.0.2", ipv6: "" },
  ],
  peers: [{ name: "self", state: "up" }],
};

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

void describe("StatusServer", () => {
  const logs: string[] = [];
  const registry = new Registry();
  registry.counter({ name: "t_total", help: "T." }).inc();
  let failPicture = false;
  let server: StatusServer;
  let port = 0;
  const options = (over: Partial<StatusServerOptions> = {}): StatusServerOptions => ({
    listen: { host: "127.0.0.1", port: 0 },
    logger: createLogger({ level: "debug", sink: (l) => logs.push(l) }),
    metrics: () => registry.expose(),
    status: async () => ({ version: "0.1.0", networks: [] }),
    picture: async () => {
      if (failPicture) throw new Error("Docker said no");
      return picture;
    },
    ...over,
  });

  before(async () => {
    server = new StatusServer(options());
    await server.start();
    port = server.address().port;
    assert.ok(port > 0);
  });
  after(() => server.close());

  void it("serves Prometheus metrics in text format 0.0.4", async () => {
    const r = await get(port, "/metrics");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], EXPOSITION_CONTENT_TYPE);
    assert.equal(r.body, "# HELP t_total T.\n# TYPE t_total counter\nt_total 1\n");
  });

  void it("serves the status JSON", async () => {
    const r = await get(port, "/status.json?pretty");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(r.body), { version: "0.1.0", networks: [] });
  });

  void it("serves the status page with the picture inline, locked down by a CSP", async () => {
    const r = await get(port, "/");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.match(String(r.headers["content-security-policy"]), /default-src 'none'/);
    assert.equal(r.headers["cache-control"], "no-store");
    assert.ok(r.body.includes("<svg") && r.body.includes("10.32.0.2") && r.body.includes("web"));
    const svg = await get(port, "/status.svg");
    assert.equal(svg.headers["content-type"], "image/svg+xml; charset=utf-8");
    assert.match(svg.body, /^<svg /);
  });

  void it("answers HEAD without a body, other methods with 405, unknown paths with 404", async () => {
    const head = await get(port, "/metrics", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.ok(Number(head.headers["content-length"]) > 0);
    const post = await get(port, "/metrics", "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers["allow"], "GET, HEAD");
    const missing = await get(port, "/nope");
    assert.equal(missing.status, 404);
    assert.match(missing.body, /\/metrics/);
  });

  void it("answers 503 with the reason when a view cannot be built, and logs it", async () => {
    failPicture = true;
    try {
      const r = await get(port, "/");
      assert.equal(r.status, 503);
      assert.match(r.body, /Docker said no/);
      assert.ok(logs.some((l) => l.includes("status view failed") && l.includes("Docker said no")));
    } finally {
      failPicture = false;
    }
  });

  void it("gives up on a view past its deadline", async () => {
    const slow = new StatusServer(
      options({ timeoutMs: 50, status: () => new Promise((r) => setTimeout(() => r({}), 2_000).unref()) }),
    );
    await slow.start();
    try {
      const r = await get(slow.address().port, "/status.json");
      assert.equal(r.status, 503);
      assert.match(r.body, /took over 50 ms/);
    } finally {
      await slow.close();
    }
  });

  void it("fails to start with WEAVE_CONFLICT when the address is taken, naming it and the flag", async () => {
    const second = new StatusServer(options({ listen: { host: "127.0.0.1", port } }));
    await assert.rejects(second.start(), (err: unknown) => {
      assert.ok(isWeaveError(err, "WEAVE_CONFLICT"), String(err));
      assert.ok(err.message.includes(`127.0.0.1:${port}`) && err.message.includes("--status-addr"));
      return true;
    });
    await second.close();
  });
});
