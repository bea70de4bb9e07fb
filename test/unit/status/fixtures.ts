/** Fixtures of the status picture tests: a view of one host, and a well-formedness check. */
import assert from "node:assert/strict";
import type { StatusPicture } from "../../../src/status/index.js";

/**
 * Checks that `xml` is well-formed enough for a browser's XML parser: tags nest and close, every
 * attribute value is quoted, `<` and `&` in text only start tags and entities. Returns the element
 * names in document order.
 */
export function checkWellFormed(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const token =
    /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[^>]*\?>|<!doctype[^>]*>|([^<]+)/gy;
  let pos = 0;
  while (pos < xml.length) {
    token.lastIndex = pos;
    const m = token.exec(xml);
    assert.ok(m, `malformed markup at ${pos}: ${JSON.stringify(xml.slice(pos, pos + 60))}`);
    const [all, closing, name, , selfClosing, textPart] = m;
    if (textPart !== undefined) {
      assert.doesNotMatch(textPart, /&(?!(amp|lt|gt|quot|#\d+);)/, `bare & in ${JSON.stringify(textPart)}`);
      assert.doesNotMatch(textPart, />/, `bare > in text ${JSON.stringify(textPart)}`);
    } else if (name !== undefined) {
      for (const v of (m[3] ?? "").matchAll(/="([^"]*)"/g))
        assert.doesNotMatch(v[1] ?? "", /&(?!(amp|lt|gt|quot|#\d+);)/, `bare & in attribute ${v[1]}`);
      if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
      else {
        names.push(name);
        if (!selfClosing) stack.push(name);
      }
    }
    pos += all.length;
  }
  assert.deepEqual(stack, [], "every element is closed");
  return names;
}

/** A host with two networks (one dual-stack, internal) and three containers, alone (no cluster). */
export function view(over: Partial<StatusPicture> = {}): StatusPicture {
  return {
    hostname: "node-1",
    generatedAt: "2024-05-02T09:14:03.118Z",
    status: {
      version: "0.1.0",
      pid: 4242,
      mtu: 1450,
      docker: { status: "reachable", error: "" },
      networks: [
        {
          id: "5c1e0b9d27f4aaaaaaaaaaaaaaaaaaaa",
          name: "weave",
          bridge: "weave",
          subnets: ["10.32.0.0/24"],
          gateways: ["10.32.0.1"],
          internal: false,
          endpoints: 2,
        },
        {
          id: "9f3a61c0d2b8bbbbbbbbbbbbbbbbbbbb",
          name: "backend",
          bridge: "weave-9f3a61c0d",
          subnets: ["10.40.0.0/24", "fd3c:9a1e:55b0::/64"],
          gateways: ["10.40.0.1", "fd3c:9a1e:55b0::1"],
          internal: true,
          endpoints: 1,
        },
      ],
    },
    dns: { domain: "weave.local.", addresses: ["10.32.0.1"], entries: 3, error: "" },
    containers: [
      { container: "web", containerId: "a1", network: "weave", endpoint: "e1", ip: "10.32.0.2/24", ipv6: "" },
      { container: "cache", containerId: "a2", network: "weave", endpoint: "e2", ip: "10.32.0.3", ipv6: "" },
      {
        container: "db",
        containerId: "a3",
        network: "backend",
        endpoint: "e3",
        ip: "10.40.0.2",
        ipv6: "fd3c:9a1e:55b0::2/64",
      },
    ],
    peers: [{ name: "self", state: "up" }],
    ...over,
  };
}
