import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderNftRuleset } from "../../../src/dataplane/index.js";
import type { NetworkPolicy } from "../../../src/dataplane/index.js";

const a: NetworkPolicy = { bridge: "weave-a", subnets: ["10.32.0.0/24", "fd00:a::/64"], internal: false };
const i: NetworkPolicy = {
  bridge: "weave-i",
  subnets: ["10.33.0.0/24"],
  internal: true,
  gateways: ["10.33.0.1/24", "fd00:1::1"],
};

void describe("renderNftRuleset", () => {
  void it("removes both tables when there are no policies", () => {
    assert.equal(
      renderNftRuleset([]),
      [
        "table inet weave {}",
        "delete table inet weave",
        "table ip weave-nat {}",
        "delete table ip weave-nat",
        "",
      ].join("\n"),
    );
  });

  void it("recreates both tables from scratch in one transaction", () => {
    const text = renderNftRuleset([a]);
    const lines = text.split("\n");
    assert.deepEqual(lines.slice(0, 4), [
      "table inet weave {}",
      "delete table inet weave",
      "table ip weave-nat {}",
      "delete table ip weave-nat",
    ]);
    assert.ok(lines.includes("table inet weave {"));
    assert.ok(lines.includes("table ip weave-nat {"));
    assert.equal(renderNftRuleset([a]), text, "deterministic");
  });

  void it("isolates a non-internal bridge from every other weave bridge and masquerades its IPv4 subnets", () => {
    const text = renderNftRuleset([a]);
    assert.match(text, /\t\tiifname "weave-a" oifname "weave\*" oifname != "weave-a" drop\n/);
    assert.match(
      text,
      /\t\tip saddr 10\.32\.0\.0\/24 ip daddr != \{ 10\.32\.0\.0\/24 \} oifname != "weave-a" oifname != "lo" masquerade\n/,
    );
    assert.doesNotMatch(text, /fd00:a::/, "no IPv6 masquerade");
    assert.match(text, /type nat hook postrouting priority srcnat; policy accept;/);
  });

  void it("confines an internal network and leaves only its gateways reachable on the host", () => {
    const text = renderNftRuleset([i]);
    assert.match(text, /\t\tiifname "weave-i" oifname != "weave-i" drop\n/);
    assert.match(text, /\t\toifname "weave-i" iifname != "weave-i" drop\n/);
    assert.match(text, /\t\tiifname "weave-i" fib daddr type local ip daddr != \{ 10\.33\.0\.1 \} drop\n/);
    assert.match(text, /\t\tiifname "weave-i" fib daddr type local ip6 daddr != \{ fd00:1::1 \} drop\n/);
    assert.doesNotMatch(text, /masquerade/);
  });

  void it("drops every host address for an internal network without gateways", () => {
    const text = renderNftRuleset([{ bridge: "weave-j", subnets: ["10.34.0.0/24"], internal: true }]);
    assert.match(text, /iifname "weave-j" meta nfproto ipv4 fib daddr type local drop/);
    assert.match(text, /iifname "weave-j" meta nfproto ipv6 fib daddr type local drop/);
  });

  void it("isolates networks across hosts by subnet (routed) and never masquerades between weave subnets", () => {
    const text = renderNftRuleset([a, i]);
    assert.match(text, /\t\tiifname "weave-a" ip daddr \{ 10\.33\.0\.0\/24 \} drop\n/);
    assert.match(text, /\t\toifname "weave-a" ip saddr \{ 10\.33\.0\.0\/24 \} drop\n/);
    assert.match(text, /\t\tiifname "weave-i" ip daddr \{ 10\.32\.0\.0\/24 \} drop\n/);
    // The internal network's own subnet on other hosts stays reachable, before its confinement.
    const accept = text.indexOf('iifname "weave-i" oifname != "weave*" ip daddr { 10.33.0.0/24 } accept');
    assert.ok(accept > 0 && accept < text.indexOf('iifname "weave-i" oifname != "weave-i" drop'));
    assert.match(text, /ip daddr != \{ 10\.32\.0\.0\/24, 10\.33\.0\.0\/24 \} oifname != "weave-a"/);
  });

  void it("fails closed when encrypted: VXLAN and weave-to-weave traffic only through the WireGuard device", () => {
    const plain = renderNftRuleset([a]);
    assert.doesNotMatch(plain, /udp dport/);
    const text = renderNftRuleset([a], { encrypted: { device: "wvg12345678", vxlanPort: 4789 } });
    assert.match(
      text,
      /chain input \{\n\t\ttype filter hook input priority filter; policy accept;\n\t\tiifname != "wvg12345678" udp dport 4789 drop\n/,
    );
    assert.match(
      text,
      /chain output \{\n\t\ttype filter hook output priority filter; policy accept;\n\t\toifname != "wvg12345678" udp dport 4789 drop\n/,
    );
    assert.match(
      text,
      /\t\tiifname "weave\*" oifname != "weave\*" oifname != "wvg12345678" ip daddr \{ 10\.32\.0\.0\/24 \} drop\n/,
    );
    assert.match(
      text,
      /\t\toifname "weave\*" iifname != "weave\*" iifname != "wvg12345678" ip saddr \{ 10\.32\.0\.0\/24 \} drop\n/,
    );
    // Even before the first network exists, VXLAN in clear is refused.
    assert.match(
      renderNftRuleset([], { encrypted: { device: "wvg12345678", vxlanPort: 4789 } }),
      /udp dport 4789 drop/,
    );
    assert.throws(() => renderNftRuleset([a], { encrypted: { device: "bad name", vxlanPort: 4789 } }), {
      code: "WEAVE_BAD_REQUEST",
    });
  });

  void it("rejects names and addresses that cannot be rendered safely", () => {
    assert.throws(() => renderNftRuleset([{ ...a, bridge: 'x" accept' }]), { code: "WEAVE_BAD_REQUEST" });
    assert.throws(() => renderNftRuleset([{ ...a, subnets: ["10.0.0.0/40"] }]), {
      code: "WEAVE_BAD_REQUEST",
    });
    assert.throws(() => renderNftRuleset([{ ...i, gateways: ["nope"] }]), { code: "WEAVE_BAD_REQUEST" });
  });
});
