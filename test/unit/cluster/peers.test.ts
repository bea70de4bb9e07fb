import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PeerTracker } from "../../../src/cluster/peers.js";
import type { PeerRecord } from "../../../src/cluster/records.js";
import { captureLogger } from "./kit.js";

const peer = (name: string, startedAt: number): PeerRecord => ({
  name,
  address: `10.0.0.${name.length}`,
  vxlanPort: 4789,
  version: "0.1.0",
  startedAt,
  seenAt: startedAt,
});

void describe("PeerTracker", () => {
  void it("shows a registered peer as seen now and a departed one as seen when it left", () => {
    let now = 1_000_000;
    const { logger } = captureLogger();
    const tracker = new PeerTracker("self", logger, () => now);
    tracker.changed([peer("self", 1), peer("b", 2), peer("c", 3)]);
    now = 2_000_000;
    tracker.changed([peer("self", 1), peer("b", 2)]);
    now = 3_000_000;
    const list = tracker.list([peer("self", 1), peer("b", 2)], "10.0.0.4");
    assert.deepEqual(
      list.map((p) => [p.name, p.state, p.lastSeen]),
      [
        ["b", "alive", 3_000_000],
        ["c", "gone", 2_000_000],
        ["self", "self", 3_000_000],
      ],
      "the record's own stamps (1, 2, 3) are not what is shown",
    );
  });

  void it("one peer's event logs and lists as a listing of every peer does", () => {
    let now = 1_000_000;
    const each = captureLogger();
    const all = captureLogger();
    const byEvent = new PeerTracker("self", each.logger, () => now);
    const byList = new PeerTracker("self", all.logger, () => now);
    const registered = new Map<string, PeerRecord>();
    const step = (name: string, record: PeerRecord | undefined) => {
      if (record) registered.set(name, record);
      else registered.delete(name);
      byEvent.peerChanged(name, record);
      byList.changed([...registered.values()]);
      now += 1_000;
    };
    step("self", peer("self", 1));
    step("b", peer("b", 2));
    step("c", peer("c", 3));
    step("b", peer("b", 4)); // b restarted: not a join
    step("c", undefined);
    step("d", undefined); // never known: nothing
    step("c", peer("c", 5));
    step("self", undefined);
    const logged = (c: typeof each) => c.lines.map(({ msg, peer, address }) => ({ msg, peer, address }));
    assert.deepEqual(logged(each), logged(all));
    assert.deepEqual(each.messages("info"), [
      "peer joined the cluster",
      "peer joined the cluster",
      "peer left the cluster",
      "peer joined the cluster",
    ]);
    const list = [...registered.values()];
    assert.deepEqual(byEvent.list(list, "10.0.0.4"), byList.list(list, "10.0.0.4"));
  });
});
