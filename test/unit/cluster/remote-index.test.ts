/** RemoteIndex: the cluster's endpoints by key, host, MAC and address, and hosts per network. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { endpointKey } from "../../../src/cluster/records.js";
import { RemoteIndex } from "../../../src/cluster/remote-index.js";
import type { RemoteEndpointView } from "../../../src/cluster/view.js";

const ep = (host: string, id: number, mac: number, ip: number, net = "n1"): RemoteEndpointView => ({
  host,
  clusterId: net,
  key: endpointKey(host, net, `e${id}`),
  mac: `02:42:0A:00:00:${mac.toString(16).padStart(2, "0")}`,
  ipv4: `10.32.0.${ip}/24`,
  ipv6: "",
});

const keys = (eps: RemoteEndpointView[]) => eps.map((e) => e.key).sort();

void describe("RemoteIndex", () => {
  void it("finds endpoints by MAC (lower case) and address, also when several share one, and forgets them", () => {
    const index = new RemoteIndex();
    const a = ep("h1", 1, 1, 1);
    const b = ep("h2", 2, 1, 2); // the same MAC as a (a container moved)
    const c = ep("h2", 3, 3, 2); // the same address as b
    for (const e of [a, b, c]) index.set(e.key, e);
    assert.deepEqual(keys(index.matching(["02:42:0a:00:00:01"], [])), keys([a, b]));
    assert.deepEqual(keys(index.matching([], ["10.32.0.2"])), keys([b, c]));
    assert.deepEqual(
      keys(index.matching(["02:42:0a:00:00:01"], ["10.32.0.2"])),
      keys([a, b, c]),
      "each once",
    );
    index.set(b.key, undefined);
    assert.deepEqual(keys(index.matching(["02:42:0a:00:00:01"], ["10.32.0.2"])), keys([a, c]));
    index.set(a.key, undefined);
    index.set(c.key, undefined);
    assert.deepEqual(index.matching(["02:42:0a:00:00:01"], ["10.32.0.2", "10.32.0.1"]), []);
    assert.equal(index.size, 0);
  });

  void it("says when a host's first container in a network comes and its last one goes", () => {
    const index = new RemoteIndex();
    assert.equal(index.set(ep("h1", 1, 1, 1).key, ep("h1", 1, 1, 1)).hostsChanged, true);
    assert.equal(index.set(ep("h1", 2, 2, 2).key, ep("h1", 2, 2, 2)).hostsChanged, false);
    assert.deepEqual(index.hostsIn("n1"), ["h1"]);
    assert.equal(index.set(ep("h1", 1, 1, 1).key, undefined).hostsChanged, false);
    assert.equal(index.set(ep("h1", 2, 2, 2).key, undefined).hostsChanged, true);
    assert.deepEqual(index.hostsIn("n1"), []);
  });

  void it("answers as a plain list of endpoints would, after any sequence of sets and deletes", () => {
    const op = fc.record({
      id: fc.integer({ min: 0, max: 11 }),
      host: fc.constantFrom("h1", "h2", "h3"),
      mac: fc.integer({ min: 0, max: 5 }),
      ip: fc.integer({ min: 0, max: 5 }),
      remove: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const index = new RemoteIndex();
        const model = new Map<number, RemoteEndpointView>();
        for (const o of ops) {
          const old = model.get(o.id);
          const next = o.remove ? undefined : ep(o.host, o.id, o.mac, o.ip);
          // The key is the endpoint's id: a host change is a new record under the same id here.
          const key = `k${o.id}`;
          index.set(key, next && { ...next, key });
          if (next) model.set(o.id, { ...next, key });
          else if (old) model.delete(o.id);
        }
        const all = [...model.values()];
        for (let m = 0; m <= 5; m++) {
          const mac = ep("x", 0, m, 0).mac.toLowerCase();
          assert.deepEqual(
            keys(index.matching([mac], [])),
            keys(all.filter((e) => e.mac.toLowerCase() === mac)),
          );
          const ip = `10.32.0.${m}`;
          assert.deepEqual(keys(index.matching([], [ip])), keys(all.filter((e) => e.ipv4 === `${ip}/24`)));
        }
        for (const h of ["h1", "h2", "h3"])
          assert.deepEqual(keys(index.ofHost(h)), keys(all.filter((e) => e.host === h)));
        assert.equal(index.size, all.length);
      }),
    );
  });
});
