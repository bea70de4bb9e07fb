import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Interner } from "../../../src/core/index.js";

void describe("Interner", () => {
  void it("gives the first string of each value for every equal string after it", () => {
    const pool = new Interner();
    const first = ["host", "1"].join("-");
    const second = ["host", "1"].join("-");
    assert.equal(pool.intern(first), first);
    assert.equal(pool.intern(second), first);
    assert.equal(pool.intern("other"), "other");
    assert.equal(pool.size, 2);
  });

  void it("starts again empty past its limit, and still returns equal strings", () => {
    const pool = new Interner(3);
    for (const s of ["a", "b", "c"]) pool.intern(s);
    assert.equal(pool.size, 3);
    assert.equal(pool.intern("d"), "d");
    assert.equal(pool.size, 1, "cleared, then holds the new one");
    assert.equal(pool.intern("a"), "a");
    assert.equal(pool.size, 2);
  });
});
