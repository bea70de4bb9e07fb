import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isWeaveError } from "../../../src/core/index.js";
import type { KeyValue } from "../../../src/store/index.js";
import {
  decodeRangeResponse,
  encodeRangeRequest,
  grpcFrame,
  grpcMessages,
} from "../../../src/store/etcd-proto.js";

/** A protobuf writer for the tests (the module under test only decodes responses). */
function varint(v: bigint): number[] {
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}
const field = (n: number, wire: number) => varint(BigInt((n << 3) | wire));
const int = (n: number, v: bigint) => (v === 0n ? [] : [...field(n, 0), ...varint(v)]);
const bytes = (n: number, b: Buffer | number[]) => [...field(n, 2), ...varint(BigInt(b.length)), ...b];

function keyValueBytes(kv: KeyValue, version: bigint): number[] {
  return [
    ...bytes(1, Buffer.from(kv.key)),
    ...int(2, BigInt(kv.createRevision)),
    ...int(3, BigInt(kv.modRevision)),
    ...int(4, version),
    ...bytes(5, Buffer.from(kv.value)),
    ...int(6, kv.lease === "" ? 0n : BigInt(kv.lease)),
  ];
}

function responseBytes(items: KeyValue[], revision: number, more: boolean): Buffer {
  const header = [
    ...int(1, 14841639068965178418n),
    ...int(2, 10276657743932975437n),
    ...int(3, BigInt(revision)),
    ...int(4, 2n),
  ];
  return Buffer.from([
    ...bytes(1, header),
    ...items.flatMap((kv) => bytes(2, keyValueBytes(kv, 1n))),
    ...int(3, more ? 1n : 0n),
    ...int(4, BigInt(items.length + 7)),
    ...bytes(99, [1, 2, 3]), // a field this version does not know: skipped
  ]);
}

const keyValueArb: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.string({ minLength: 1, unit: "grapheme" }),
  value: fc.string({ unit: "grapheme" }),
  createRevision: fc.integer({ min: 0, max: 2 ** 40 }),
  modRevision: fc.integer({ min: 0, max: 2 ** 40 }),
  lease: fc.oneof(fc.constant(""), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String)),
});

void describe("etcd's Range in protobuf", () => {
  void it("encodes a RangeRequest as etcd's rpc.proto numbers its fields, zero fields left out", () => {
    const req = encodeRangeRequest({
      key: Buffer.from("/a/"),
      rangeEnd: Buffer.from("/a0"),
      limit: 300,
      revision: 0,
    });
    assert.deepEqual([...req], [0x0a, 3, 0x2f, 0x61, 0x2f, 0x12, 3, 0x2f, 0x61, 0x30, 0x18, 0xac, 0x02]);
    const at = encodeRangeRequest({
      key: Buffer.from("k"),
      rangeEnd: Buffer.alloc(0),
      limit: 0,
      revision: 2 ** 33,
    });
    assert.deepEqual([...at], [0x0a, 1, 0x6b, 0x20, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert.throws(
      () => encodeRangeRequest({ key: Buffer.from("k"), rangeEnd: Buffer.alloc(0), limit: -1, revision: 0 }),
      (err: unknown) => isWeaveError(err, "WEAVE_INTERNAL"),
    );
  });

  void it("decodes any RangeResponse: keys, values, revisions, 64-bit lease IDs, more; unknown fields skipped", () => {
    fc.assert(
      fc.property(
        fc.array(keyValueArb, { maxLength: 20 }),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.boolean(),
        (items, revision, more) => {
          assert.deepEqual(decodeRangeResponse(responseBytes(items, revision, more)), {
            items: items.map((kv) => ({ ...kv })), // fast-check records have no prototype
            revision,
            more,
          });
        },
      ),
    );
  });

  void it("reads a negative int64 lease as the gateway prints it", () => {
    const kv = { key: "k", value: "v", createRevision: 1, modRevision: 1, lease: "-5" };
    assert.equal(decodeRangeResponse(responseBytes([kv], 1, false)).items[0]?.lease, "-5");
  });

  void it("rejects a cut or malformed message with WEAVE_STATE", () => {
    const whole = responseBytes(
      [{ key: "k", value: "v", createRevision: 1, modRevision: 2, lease: "" }],
      9,
      false,
    );
    for (const bad of [
      whole.subarray(0, 20),
      Buffer.from([0x0a, 0x05, 1]),
      Buffer.from([0x80]),
      Buffer.from([0x0b]),
    ])
      assert.throws(
        () => decodeRangeResponse(bad),
        (err: unknown) => isWeaveError(err, "WEAVE_STATE") && /etcd answered a Range with/.test(err.message),
      );
  });

  void it("frames gRPC messages and reads them back; a compressed or cut frame is WEAVE_STATE", () => {
    const a = Buffer.from("first");
    const b = Buffer.alloc(70_000, 7);
    assert.deepEqual(grpcFrame(a).subarray(0, 5), Buffer.from([0, 0, 0, 0, 5]));
    assert.deepEqual(grpcMessages(Buffer.concat([grpcFrame(a), grpcFrame(b)])), [a, b]);
    assert.deepEqual(grpcMessages(Buffer.alloc(0)), []);
    const compressed = grpcFrame(a);
    compressed[0] = 1;
    for (const bad of [compressed, grpcFrame(b).subarray(0, 100), Buffer.from([0, 0])])
      assert.throws(
        () => grpcMessages(bad),
        (err: unknown) => isWeaveError(err, "WEAVE_STATE"),
      );
  });
});
