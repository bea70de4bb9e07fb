import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { escapeXml, PICTURE_WIDTH, renderStatusPage, renderStatusSvg } from "../../../src/status/index.js";
import { checkWellFormed, view } from "./fixtures.js";

void describe("renderStatusSvg", () => {
  void it("is a well-formed standalone SVG, PICTURE_WIDTH wide", () => {
    const svg = renderStatusSvg(view());
    const names = checkWellFormed(svg);
    assert.equal(names[0], "svg");
    assert.match(
      svg,
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="1280" height="(\d+)" viewBox="0 0 1280 \1"/,
    );
    assert.equal(PICTURE_WIDTH, 1280);
    assert.doesNotMatch(svg, /<script|href=|url\(/i, "no script, no external resource");
  });

  void it("shows the host, each network with its name, subnets and bridge, each container with its IPs", () => {
    const svg = renderStatusSvg(view());
    for (const text of [
      "host node-1",
      "weave",
      "10.32.0.0/24",
      "backend",
      "10.40.0.0/24, fd3c:9a1e:55b0::/64",
      "bridge weave-9f3a61c0d",
      "gateway 10.40.0.1",
      "web",
      "10.32.0.2",
      "cache",
      "10.32.0.3",
      "db",
      "10.40.0.2",
      "fd3c:9a1e:55b0::2",
      "internal",
      "Docker reachable",
      "DNS weave.local. · 3 names",
      "Peers 1/1 up",
    ])
      assert.ok(svg.includes(text), `the picture shows "${text}"`);
    assert.equal((svg.match(/<g class="network"/g) ?? []).length, 2);
    assert.equal((svg.match(/<g class="container"/g) ?? []).length, 3);
    assert.ok(svg.includes(">10.32.0.2</text>"), "addresses are shown without their prefix length");
    assert.ok(svg.includes(">fd3c:9a1e:55b0::2</text>"));
  });

  void it("hangs each container off its own network's bar, in that network's colour", () => {
    const svg = renderStatusSvg(view());
    const sections = svg.split('<g class="network"').slice(1);
    const backend = sections.find((s) => s.startsWith(' data-network="backend"')) ?? "";
    const weave = sections.find((s) => s.startsWith(' data-network="weave"')) ?? "";
    assert.ok(backend.includes('data-container="db"') && !backend.includes('data-container="web"'));
    assert.ok(weave.includes('data-container="web"') && weave.includes('data-container="cache"'));
    const colour = (s: string) => /<rect [^>]*height="44" rx="10" fill="(#[0-9a-f]{6})"/.exec(s)?.[1];
    assert.notEqual(colour(backend), colour(weave), "networks have different colours");
    assert.ok(weave.includes(`stroke="${colour(weave)}"`), "cards are drawn in their network's colour");
    assert.ok(weave.includes(">DNS<"), "the network whose gateway weaveDNS listens on has a DNS pill");
    assert.ok(!backend.includes(">DNS<"));
  });

  void it("escapes < & \" ' in every text and attribute from the view", () => {
    const evil = `<b>&"x'`;
    const v = view({ hostname: evil });
    const svg = renderStatusSvg({
      ...v,
      status: {
        ...v.status,
        docker: { status: "unreachable", error: `<err & "q">` },
        networks: [{ ...v.status.networks[0]!, name: `n<&">`, bridge: `br"<` }],
      },
      containers: [
        { container: `c<&"'>`, containerId: "x", network: `n<&">`, endpoint: "e", ip: "10.32.0.9", ipv6: "" },
      ],
    });
    checkWellFormed(svg);
    assert.ok(!svg.includes("<b>") && !svg.includes(`"x'`));
    assert.ok(svg.includes("&lt;b&gt;&amp;&quot;x&#39;"));
    assert.ok(svg.includes('data-network="n&lt;&amp;&quot;&gt;"'));
    assert.ok(svg.includes('data-container="c&lt;&amp;&quot;&#39;&gt;"'));
    assert.ok(svg.includes("Docker is unreachable: &lt;err &amp; &quot;q&quot;&gt;"));
    assert.equal(escapeXml(`<&>"'`), "&lt;&amp;&gt;&quot;&#39;");
  });

  void it("cuts long names with an ellipsis and keeps the full text in a tooltip", () => {
    const long = "a-container-with-a-really-very-long-name";
    const v = view();
    const svg = renderStatusSvg({
      ...v,
      containers: [
        { container: long, containerId: "x", network: "weave", endpoint: "e", ip: "10.32.0.2", ipv6: "" },
      ],
    });
    assert.match(svg, /class="container-name">a-container-w[^<]*…<\/text>/);
    assert.ok(svg.includes(`<title>${long}\n`), "full name in the title");
  });

  void it("lays out many containers in rows that grow the picture, not crossing cards", () => {
    const v = view();
    const many = Array.from({ length: 14 }, (_, i) => ({
      container: `c${i}`,
      containerId: `id${i}`,
      network: "weave",
      endpoint: `e${i}`,
      ip: `10.32.0.${i + 2}`,
      ipv6: "",
    }));
    const small = Number(/height="(\d+)"/.exec(renderStatusSvg(v))?.[1]);
    const svg = renderStatusSvg({ ...v, containers: many });
    const big = Number(/height="(\d+)"/.exec(svg)?.[1]);
    assert.ok(big > small, `${big} > ${small}`);
    const cards = [
      ...svg.matchAll(
        /<g class="container"[^>]*>\n<title>[^<]*<\/title>\n<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"/g,
      ),
    ].map((m) => m.slice(1, 5).map(Number) as [number, number, number, number]);
    assert.equal(cards.length, 14);
    for (const [i, a] of cards.entries()) {
      assert.ok(a[0] + a[2] <= 1232, "inside the host box");
      for (const b of cards.slice(i + 1)) {
        const apart =
          a[0] + a[2] <= b[0] || b[0] + b[2] <= a[0] || a[1] + a[3] <= b[1] || b[1] + b[3] <= a[1];
        assert.ok(apart, `cards ${a.join(",")} and ${b.join(",")} do not overlap`);
      }
    }
  });

  void it("says so when there is no network, and shows Docker and DNS trouble", () => {
    const v = view();
    const svg = renderStatusSvg({
      ...v,
      status: { ...v.status, networks: [], docker: { status: "unknown", error: "" } },
      containers: [],
      dns: null,
    });
    checkWellFormed(svg);
    assert.ok(svg.includes("No weave network on this host yet"));
    assert.ok(svg.includes("Docker unknown"));
    assert.ok(svg.includes("DNS off"));
  });

  void it("shows a container Docker does not list by its endpoint, on a network without a name", () => {
    const v = view();
    const svg = renderStatusSvg({
      ...v,
      status: { ...v.status, networks: [{ ...v.status.networks[0]!, name: "" }] },
      containers: [
        {
          container: "",
          containerId: "",
          network: "5c1e0b9d27f4",
          endpoint: "0123456789ab",
          ip: "10.32.0.7",
          ipv6: "",
        },
      ],
    });
    assert.ok(svg.includes('data-network="5c1e0b9d27f4"'));
    assert.ok(svg.includes("endpoint 0123456789ab"));
  });
});

void describe("renderStatusPage", () => {
  void it("is an HTML page with the picture inline and a refresh, without scripts", () => {
    const html = renderStatusPage(view(), 7);
    assert.match(html, /^<!doctype html>/);
    assert.ok(html.includes('<meta http-equiv="refresh" content="7">'));
    assert.ok(html.includes("<title>weave · node-1</title>"));
    assert.ok(html.includes('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.doesNotMatch(html, /<script/i);
    assert.ok(renderStatusPage(view({ hostname: "<x>" })).includes("<title>weave · &lt;x&gt;</title>"));
  });
});
