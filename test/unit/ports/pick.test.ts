import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  bindingsAt,
  candidatePorts,
  clashes,
  parsePortRange,
  requestFamilies,
} from "../../../src/ports/index.js";
import type { PortBinding, PortRequest } from "../../../src/ports/index.js";

const b = (o: Partial<PortBinding>): PortBinding => ({
  proto: "tcp",
  family: 4,
  hostIp: "0.0.0.0",
  hostPort: 8080,
  containerPort: 80,
  ...o,
});
const req = (o: Partial<PortRequest>): PortRequest => ({
  proto: "tcp",
  containerPort: 80,
  hostIp: "",
  hostPort: 0,
  hostPortEnd: 0,
  ...o,
});

void describe("port conflicts", () => {
  void it("a wildcard clashes with every address of its family; addresses clash with themselves", () => {
    assert.equal(clashes(b({}), b({ hostIp: "127.0.0.1" })), true);
    assert.equal(clashes(b({ hostIp: "10.0.0.1" }), b({ hostIp: "10.0.0.1" })), true);
    assert.equal(clashes(b({ hostIp: "10.0.0.1" }), b({ hostIp: "10.0.0.2" })), false);
    assert.equal(clashes(b({ family: 6, hostIp: "::" }), b({ family: 6, hostIp: "fd00::1" })), true);
  });

  void it("other protocol, port or family never clash", () => {
    assert.equal(clashes(b({}), b({ proto: "udp" })), false);
    assert.equal(clashes(b({}), b({ hostPort: 8081 })), false);
    assert.equal(clashes(b({}), b({ family: 6, hostIp: "::" })), false);
  });
});

void describe("host port picking", () => {
  const range = { start: 32768, end: 32771 };

  void it("reads the kernel's ephemeral range", () => {
    assert.deepEqual(parsePortRange("32768\t60999\n"), { start: 32768, end: 60999 });
    assert.throws(() => parsePortRange("60999 32768"), /Invalid ephemeral port range/);
  });

  void it("tries the asked port, every port of an asked range, or the ephemeral range after the last pick", () => {
    assert.deepEqual(candidatePorts(req({ hostPort: 9000, hostPortEnd: 9000 }), range, 0), [9000]);
    assert.deepEqual(
      candidatePorts(req({ hostPort: 9000, hostPortEnd: 9002 }), range, 0),
      [9000, 9001, 9002],
    );
    assert.deepEqual(candidatePorts(req({}), range, 0), [32768, 32769, 32770, 32771]);
    assert.deepEqual(candidatePorts(req({}), range, 32769), [32770, 32771, 32768, 32769]);
    assert.deepEqual(candidatePorts(req({}), range, 32771), [32768, 32769, 32770, 32771]);
  });

  void it("covers every family of the endpoint for an unspecified host address, one family otherwise", () => {
    const dual = { v4: true, v6: true };
    assert.deepEqual(requestFamilies(req({}), dual), [4, 6]);
    assert.deepEqual(requestFamilies(req({}), { v4: true, v6: false }), [4]);
    assert.deepEqual(requestFamilies(req({ hostIp: "::" }), dual), [6]);
    assert.deepEqual(requestFamilies(req({ hostIp: "127.0.0.1" }), dual), [4]);
    assert.throws(
      () => requestFamilies(req({ hostIp: "fd00::1" }), { v4: true, v6: false }),
      /no IPv6 address/,
    );
    assert.deepEqual(
      bindingsAt(req({}), [4, 6], 9000).map((x) => `${x.family} ${x.hostIp}`),
      ["4 0.0.0.0", "6 ::"],
    );
  });
});
