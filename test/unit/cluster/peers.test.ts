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
});
