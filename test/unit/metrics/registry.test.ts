import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import {
  escapeHelp,
  escapeLabelValue,
  formatExposition,
  formatValue,
  Registry,
} from "../../../src/metrics/index.js";

function internalError(fn: () => unknown, mention: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWeaveError(err, "WEAVE_INTERNAL"), String(err));
    assert.ok(err.message.includes(mention), `"${err.message}" should mention ${mention}`);
    return true;
  });
}

void describe("exposition format 0.0.4", () => {
  void it("formats counters, gauges and label sets exactly", () => {
    const r = new Registry();
    const c = r.counter({ name: "x_requests_total", help: "Requests.", labelNames: ["method", "code"] });
    c.inc({ method: "get", code: "200" });
    c.inc({ method: "get", code: "200" }, 2);
    c.inc({ code: "500", method: "post" });
    const g = r.gauge({ name: "x_temperature", help: "Temperature." });
    g.set({}, -1.5);
    assert.equal(
      r.expose(),
      [
        "# HELP x_requests_total Requests.",
        "# TYPE x_requests_total counter",
        'x_requests_total{method="get",code="200"} 3',
        'x_requests_total{method="post",code="500"} 1',
        "# HELP x_temperature Temperature.",
        "# TYPE x_temperature gauge",
        "x_temperature -1.5",
        "",
      ].join("\n"),
    );
  });

  void it("shows a family without labels at 0 and a labelled family with no series as HELP/TYPE only", () => {
    const r = new Registry();
    r.counter({ name: "a_total", help: "A." });
    r.counter({ name: "b_total", help: "B.", labelNames: ["k"] });
    assert.equal(
      r.expose(),
      "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n# HELP b_total B.\n# TYPE b_total counter\n",
    );
    assert.equal(new Registry().expose(), "");
  });

  void it("escapes label values (backslash, quote, line feed) and HELP (backslash, line feed)", () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(escapeHelp('a\\b"c\nd'), 'a\\\\b"c\\nd');
    const r = new Registry();
    const c = r.counter({ name: "e_total", help: 'Odd "help"\\\nsecond line', labelNames: ["path"] });
    c.inc({ path: 'C:\\dir\n"x"' });
    assert.equal(
      r.expose(),
      '# HELP e_total Odd "help"\\\\\\nsecond line\n# TYPE e_total counter\ne_total{path="C:\\\\dir\\n\\"x\\""} 1\n',
    );
  });

  void it("formats special values the way Prometheus parses them", () => {
    assert.equal(formatValue(Infinity), "+Inf");
    assert.equal(formatValue(-Infinity), "-Inf");
    assert.equal(formatValue(NaN), "NaN");
    assert.equal(formatValue(0.25), "0.25");
    assert.equal(formatValue(42), "42");
    assert.equal(formatValue(2 ** 64), "18446744073709552000");
    assert.equal(formatValue(1e21), "1e+21");
  });

  void it("sorts the series of a family by label values", () => {
    const r = new Registry();
    const g = r.gauge({ name: "s", help: "S.", labelNames: ["k"] });
    for (const k of ["b", "c", "a"]) g.set({ k }, 1);
    assert.deepEqual(
      r.collect()[0]?.samples.map((s) => s.labels[0]?.[1]),
      ["a", "b", "c"],
    );
  });

  void it("formatExposition writes the families it is given, in order", () => {
    const text = formatExposition([
      { name: "z", help: "Z.", type: "gauge", samples: [{ name: "z", labels: [], value: 1 }] },
      { name: "a", help: "A.", type: "counter", samples: [] },
    ]);
    assert.equal(text, "# HELP z Z.\n# TYPE z gauge\nz 1\n# HELP a A.\n# TYPE a counter\n");
  });
});

void describe("histogram", () => {
  void it("counts observations in cumulative buckets with +Inf, _sum and _count", () => {
    const r = new Registry();
    const h = r.histogram({ name: "d_seconds", help: "D.", labelNames: ["m"], buckets: [0.1, 1, 5] });
    for (const v of [0.05, 0.1, 0.5, 3, 7]) h.observe({ m: "x" }, v);
    assert.equal(
      r.expose(),
      [
        "# HELP d_seconds D.",
        "# TYPE d_seconds histogram",
        'd_seconds_bucket{m="x",le="0.1"} 2',
        'd_seconds_bucket{m="x",le="1"} 3',
        'd_seconds_bucket{m="x",le="5"} 4',
        'd_seconds_bucket{m="x",le="+Inf"} 5',
        'd_seconds_sum{m="x"} 10.65',
        'd_seconds_count{m="x"} 5',
        "",
      ].join("\n"),
    );
  });

  void it("uses the default buckets and shows an unlabelled histogram at zero", () => {
    const r = new Registry();
    const h = r.histogram({ name: "h", help: "H." });
    assert.deepEqual(h.buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    const lines = r.expose().split("\n");
    assert.equal(lines.filter((l) => l.startsWith("h_bucket{")).length, 12);
    assert.ok(lines.includes('h_bucket{le="+Inf"} 0'));
    assert.ok(lines.includes("h_sum 0"));
    assert.ok(lines.includes("h_count 0"));
  });

  void it("bucket counts never decrease and the +Inf bucket equals the count", () => {
    const r = new Registry();
    const h = r.histogram({ name: "p", help: "P.", buckets: [1, 2, 3, 4] });
    let seed = 7;
    for (let i = 0; i < 500; i++) {
      seed = (seed * 48271) % 2147483647;
      h.observe({}, (seed % 600) / 100);
    }
    const buckets = (r.collect()[0]?.samples ?? []).filter((s) => s.name === "p_bucket");
    for (let i = 1; i < buckets.length; i++)
      assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0));
    assert.equal(buckets.at(-1)?.value, 500);
  });

  void it("rejects bad buckets and an `le` label", () => {
    const r = new Registry();
    internalError(() => r.histogram({ name: "h1", help: "H.", buckets: [1, 1] }), "h1");
    internalError(() => r.histogram({ name: "h2", help: "H.", buckets: [2, 1] }), "h2");
    internalError(() => r.histogram({ name: "h3", help: "H.", buckets: [1, Infinity] }), "h3");
    internalError(() => r.histogram({ name: "h4", help: "H.", labelNames: ["le"] }), "le");
  });
});

void describe("registry", () => {
  void it("calls gauge callbacks at each scrape and adds up series with the same labels", () => {
    const r = new Registry();
    let n = 1;
    r.gaugeCallback({
      name: "cb",
      help: "CB.",
      labelNames: ["state"],
      collect: () => [
        { labels: { state: "up" }, value: n },
        { labels: { state: "up" }, value: 1 },
        { labels: { state: "down" }, value: 0 },
      ],
    });
    assert.match(r.expose(), /^cb\{state="up"\} 2$/m);
    n = 5;
    assert.match(r.expose(), /^cb\{state="up"\} 6$/m);
    assert.match(r.expose(), /^cb\{state="down"\} 0$/m);
  });

  void it("rejects invalid and duplicate names, wrong label sets and negative counter steps", () => {
    const r = new Registry();
    internalError(() => r.counter({ name: "1bad", help: "." }), "1bad");
    internalError(() => r.counter({ name: "ok_total", help: ".", labelNames: ["a-b"] }), "a-b");
    internalError(() => r.counter({ name: "ok_total", help: ".", labelNames: ["__x"] }), "__x");
    internalError(() => r.counter({ name: "ok_total", help: ".", labelNames: ["a", "a"] }), "ok_total");
    const c = r.counter({ name: "ok_total", help: ".", labelNames: ["a", "b"] });
    internalError(() => r.gauge({ name: "ok_total", help: "." }), "already registered");
    internalError(() => c.inc({ a: "1" }), "[a, b]");
    internalError(() => c.inc({ a: "1", b: "2", c: "3" }), "[a, b]");
    internalError(() => c.inc({ a: "1", b: "2" }, -1), "ok_total");
    c.inc({ a: "1", b: "2" }, 0);
    assert.match(r.expose(), /^ok_total\{a="1",b="2"\} 0$/m);
  });

  void it("gauges go up and down", () => {
    const r = new Registry();
    const g = r.gauge({ name: "g", help: "G." });
    g.inc();
    g.inc({}, 4);
    g.dec({}, 2);
    assert.match(r.expose(), /^g 3$/m);
  });
});
