import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderStatusPage, renderStatusSvg, type PictureCluster } from "../../../src/status/index.js";
import { checkWellFormed, view } from "./fixtures.js";

/** node-1 and four peers: routed up, vxlan in WireGuard up, an encryption mismatch (down), one gone. */
function cluster(over: Partial<PictureCluster> = {}): PictureCluster {
  const path = { lastSeen: 1714641243118, version: "0.1.0", handshakeAgeS: null, up: true, problem: "" };
  return {
    name: "node-1",
    address: "192.168.50.1",
    encryption: { enabled: true, implementation: "wireguard-go" },
    peers: [
      { name: "gamma", address: "10.9.0.3", state: "gone", lastSeen: 1714641000000, version: "0.1.0" },
      {
        name: "alpha",
        address: "192.168.50.2",
        state: "alive",
        transport: "routed",
        encryption: "none",
        mtu: 1500,
        ...path,
      },
      {
        name: "node-1",
        address: "192.168.50.1",
        state: "self",
        transport: null,
        encryption: null,
        mtu: null,
      },
      {
        name: "beta",
        address: "10.8.0.2",
        state: "alive",
        transport: "vxlan",
        encryption: "wireguard",
        mtu: 1370,
        ...path,
        handshakeAgeS: 12,
      },
      {
        name: "delta",
        address: "10.8.0.4",
        state: "alive",
        transport: "vxlan",
        encryption: "mismatch",
        mtu: 1450,
        ...path,
        up: false,
        problem: "encryption mismatch: the peer has no password",
      },
    ],
    ...over,
  };
}

/** The element `<g class="cls" data-peer="name" ...>...</g>` (no nested groups) of a peer. */
function group(svg: string, cls: string, name: string): string {
  const start = svg.indexOf(`<g class="${cls}" data-peer="${name}"`);
  assert.ok(start >= 0, `a ${cls} for ${name}`);
  return svg.slice(start, svg.indexOf("</g>", start) + 4);
}

/** The numbers of attribute `name` of the first element `tag` in `svg`. */
function attr(svg: string, tag: string, name: string): number {
  const el = new RegExp(`<${tag} [^>]*>`).exec(svg)?.[0] ?? "";
  return Number(new RegExp(` ${name}="([\\d.]+)"`).exec(el)?.[1]);
}

void describe("renderStatusSvg: the cluster", () => {
  const svg = renderStatusSvg(view({ cluster: cluster() }));

  void it("draws this host and every other peer as a node with its name, address and state", () => {
    checkWellFormed(svg);
    assert.ok(svg.includes('<g class="cluster" data-cluster-peers="4">'));
    const self = group(svg, "cluster-self", "node-1");
    assert.ok(self.includes(">node-1</text>") && self.includes(">192.168.50.1</text>"));
    assert.equal((svg.match(/<g class="peer" /g) ?? []).length, 4, "this host is not drawn as a peer");
    for (const [name, address, state] of [
      ["alpha", "192.168.50.2", "up"],
      ["beta", "10.8.0.2", "up"],
      ["delta", "10.8.0.4", "down"],
      ["gamma", "10.9.0.3", "gone"],
    ] as const) {
      const node = group(svg, "peer", name);
      assert.ok(node.includes(`data-state="${state}"`), `${name} is ${state}`);
      assert.ok(node.includes(`class="peer-name">${name}</text>`));
      assert.ok(node.includes(`class="peer-address">${address}</text>`));
      assert.ok(node.includes(`class="peer-state">${state}</text>`));
    }
    assert.ok(svg.includes("4 peers  ·  2 up  ·  1 gone  ·  encryption: wireguard (wireguard-go)"));
  });

  void it("labels each link with its transport, encryption, MTU and state, coloured and dashed by state", () => {
    const alpha = group(svg, "peer-link", "alpha");
    assert.ok(alpha.includes('data-transport="routed" data-encryption="none" data-state="up"'));
    for (const t of [">routed<", ">unencrypted<", ">MTU 1500<", ">up<"]) assert.ok(alpha.includes(t), t);
    assert.match(alpha, /<line [^>]*stroke="#16a34a" stroke-width="3"\/>/, "up: green and solid");

    const beta = group(svg, "peer-link", "beta");
    for (const t of [">vxlan<", ">wireguard<", ">MTU 1370<", ">up<"]) assert.ok(beta.includes(t), t);
    assert.ok(beta.includes("last handshake 12 s ago"), "the handshake age is in the tooltip");
    assert.ok(beta.includes('stroke="#166534" stroke-width="1.6"'), "a lock glyph");
    assert.ok(!alpha.includes('stroke="#166534"'), "no lock on an unencrypted link");

    const delta = group(svg, "peer-link", "delta");
    assert.ok(delta.includes('data-encryption="mismatch" data-state="down"'));
    for (const t of [">vxlan<", ">mismatch<", ">down<"]) assert.ok(delta.includes(t), t);
    assert.match(
      delta,
      /<line [^>]*stroke="#dc2626" stroke-width="3" stroke-dasharray="9 6"\/>/,
      "red, dashed",
    );
    assert.match(delta, /<title>[^<]*\nencryption mismatch: the peer has no password<\/title>/);
    assert.ok(delta.includes('class="link-problem">encryption mismatch: the peer has no password</text>'));

    const gamma = group(svg, "peer-link", "gamma");
    assert.ok(gamma.includes('data-transport="" data-encryption="" data-state="gone"'));
    assert.match(gamma, /<line [^>]*stroke="#94a3b8" stroke-width="3" stroke-dasharray="9 6"\/>/);
    assert.ok(!/>(routed|vxlan|MTU)/.test(gamma), "a gone peer has no path");
    assert.ok(group(svg, "peer", "gamma").includes('opacity="0.6"'), "greyed");
    assert.ok(!group(svg, "peer", "alpha").includes("opacity"));
  });

  void it("gives each peer a row of its own, gone ones last, with lines between the nodes", () => {
    const order = [...svg.matchAll(/<g class="peer-link" data-peer="(\w+)"/g)].map((m) => m[1]);
    assert.deepEqual(order, ["alpha", "beta", "delta", "gamma"]);
    const selfRight = attr(group(svg, "cluster-self", "node-1"), "rect", "x") + 280;
    let lastY = 0;
    for (const name of order) {
      const link = group(svg, "peer-link", name ?? "");
      const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((a) => attr(link, "line", a));
      assert.equal(y1, y2, "the line is horizontal");
      assert.ok((y1 ?? 0) >= lastY + 80, "rows do not overlap");
      lastY = y1 ?? 0;
      assert.equal(x1, selfRight, "from this host's node");
      assert.equal(x2, attr(group(svg, "peer", name ?? ""), "rect", "x"), "to the peer's node");
      const pill = /<rect x="(\d+)" y="[\d.]+" width="(\d+)" height="26"/.exec(link);
      assert.ok(pill && Number(pill[1]) > (x1 ?? 0) && Number(pill[1]) + Number(pill[2]) < (x2 ?? 0));
    }
  });

  void it("puts the cluster above the host box, which moves down", () => {
    const clusterRect = /<g class="cluster"[^>]*>\n<rect x="24" y="96" width="1232" height="(\d+)"/.exec(svg);
    assert.ok(clusterRect, "the cluster section is first, under the header");
    const hostY = Number(/<g class="host"[^>]*>\n<rect x="24" y="(\d+)"/.exec(svg)?.[1]);
    assert.equal(hostY, 96 + Number(clusterRect[1]) + 24);
    const height = (s: string) => Number(/height="(\d+)"/.exec(s)?.[1]);
    assert.equal(height(svg), height(renderStatusSvg(view())) + hostY - 96);
  });

  void it("escapes a hostile peer name, address and problem (they come from the store)", () => {
    const evil = `<script>alert("x")</script>&'`;
    const out = renderStatusSvg(
      view({
        cluster: cluster({
          name: `me"<`,
          peers: [
            {
              name: evil,
              address: `1.2.3.4"><x>`,
              state: "alive",
              transport: `vx<lan`,
              encryption: "mismatch",
              mtu: 1400,
              up: false,
              problem: `</title><script>&`,
            },
          ],
        }),
      }),
    );
    checkWellFormed(out);
    assert.doesNotMatch(out, /<script|<x>|<\/title><script/);
    const e = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;";
    assert.ok(out.includes(`<g class="peer-link" data-peer="${e}" data-transport="vx&lt;lan"`));
    assert.ok(out.includes(`<g class="peer" data-peer="${e}"`));
    assert.ok(out.includes('class="peer-address">1.2.3.4&quot;&gt;&lt;x&gt;</text>'));
    assert.ok(out.includes("&lt;/title&gt;&lt;script&gt;&amp;"));
    assert.ok(out.includes('data-peer="me&quot;&lt;"'));
    assert.doesNotMatch(
      renderStatusPage(view({ cluster: cluster({ peers: [{ name: evil, address: "", state: "alive" }] }) })),
      /<script/,
    );
  });

  void it("shows a cluster of one and peers whose paths are not reported", () => {
    const alone = renderStatusSvg(
      view({ cluster: cluster({ peers: [], encryption: { enabled: false, implementation: null } }) }),
    );
    checkWellFormed(alone);
    assert.ok(alone.includes(">no other peer yet</text>"));
    assert.ok(alone.includes("0 peers  ·  0 up  ·  encryption: off"));
    const old = renderStatusSvg(
      view({
        cluster: {
          name: "node-1",
          address: "192.168.50.1",
          peers: [{ name: "p", address: "192.168.50.9", state: "alive" }],
        },
      }),
    );
    const link = group(old, "peer-link", "p");
    assert.ok(link.includes('data-state="up"') && !link.includes("no path") && !link.includes("encryption:"));
    const unprogrammed = renderStatusSvg(
      view({
        cluster: cluster({
          peers: [
            { name: "q", address: "10.0.0.9", state: "alive", transport: null, encryption: null, up: false },
          ],
        }),
      }),
    );
    assert.ok(group(unprogrammed, "peer-link", "q").includes(">no path</tspan>"));
    assert.ok(group(unprogrammed, "peer-link", "q").includes('data-state="down"'));
  });
});

void describe("renderStatusSvg: a host alone", () => {
  void it("keeps the picture it had before clusters: no cluster section, the host box under the header", () => {
    const svg = renderStatusSvg(view());
    assert.doesNotMatch(svg, /class="(cluster|peer|peer-link|cluster-self)"/);
    assert.match(svg, /^<svg [^>]* height="562" /, "the same height as before");
    assert.ok(
      svg.includes(
        '<g class="host" data-host="node-1">\n<rect x="24" y="96" width="1232" height="422" rx="16" fill="#f8fafc"',
      ),
      "the same host box as before",
    );
    assert.ok(svg.includes("Peers 1/1 up"));
  });
});
