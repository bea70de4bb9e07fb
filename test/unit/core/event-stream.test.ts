import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventStream } from "../../../src/core/index.js";

void describe("EventStream", () => {
  void it("runs every listener in subscription order before emit returns", () => {
    const seen: string[] = [];
    const s = new EventStream<number>();
    s.subscribe((n) => seen.push(`a${n}`));
    s.subscribe((n) => seen.push(`b${n}`));
    s.emit(1);
    seen.push("after");
    assert.deepEqual(seen, ["a1", "b1", "after"]);
  });

  void it("reports a throwing listener and still runs the others", () => {
    const errors: string[] = [];
    const seen: number[] = [];
    const s = new EventStream<number>((err, e) => errors.push(`${String(err)}@${e}`));
    s.subscribe(() => {
      throw new Error("boom");
    });
    s.subscribe((n) => seen.push(n));
    s.emit(7);
    assert.deepEqual(seen, [7]);
    assert.deepEqual(errors, ["Error: boom@7"]);
  });

  void it("unsubscribes, and the same function subscribed twice runs twice", () => {
    const seen: number[] = [];
    const s = new EventStream<number>();
    const fn = (n: number) => seen.push(n);
    const off = s.subscribe(fn);
    s.subscribe(fn);
    s.emit(1);
    off();
    s.emit(2);
    assert.deepEqual(seen, [1, 1, 2]);
  });
});
