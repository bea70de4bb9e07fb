import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import type { JsonObject } from "../../../src/core/index.js";
import { OPT_EXPOSED_PORTS, OPT_PORTMAP, parsePortOptions } from "../../../src/ports/index.js";

const pm = (...entries: JsonObject[]): JsonObject => ({ [OPT_PORTMAP]: entries });
const entry = (o: JsonObject): JsonObject => ({
  Proto: 6,
  IP: "",
  Port: 80,
  HostIP: "",
  HostPort: 0,
  HostPortEnd: 0,
  ...o,
});

function refused(options: JsonObject, pattern: RegExp, code = "WEAVE_BAD_REQUEST"): void {
  assert.throws(
    () => parsePortOptions(options),
    (err: unknown) => isWeaveError(err) && err.code === code && pattern.test(err.message),
  );
}

void describe("parsePortOptions", () => {
  void it("reads -p HOSTPORT:PORT as Docker sends it", () => {
    const { requests } = parsePortOptions(pm(entry({ HostPort: 18080, HostPortEnd: 18080 })));
    assert.deepEqual(requests, [
      { proto: "tcp", containerPort: 80, hostIp: "", hostPort: 18080, hostPortEnd: 18080 },
    ]);
  });

  void it("reads -p IP:HOSTPORT:PORT with IPv4, loopback and IPv6 host addresses (canonical form)", () => {
    const { requests } = parsePortOptions(
      pm(
        entry({ HostIP: "127.0.0.1", HostPort: 1 }),
        entry({ HostIP: "FD00:0:0::1", HostPort: 2 }),
        entry({ HostIP: "::", HostPort: 3 }),
        entry({ HostIP: "0.0.0.0", HostPort: 4 }),
      ),
    );
    assert.deepEqual(
      requests.map((r) => r.hostIp),
      ["127.0.0.1", "fd00::1", "::", "0.0.0.0"],
    );
  });

  void it("reads -p PORT and -P (no host port), /udp, and a host range for one port", () => {
    const { requests } = parsePortOptions(
      pm(entry({ Port: 53, Proto: 17 }), entry({ HostPort: 8000, HostPortEnd: 8010 })),
    );
    assert.deepEqual(requests, [
      { proto: "udp", containerPort: 53, hostIp: "", hostPort: 0, hostPortEnd: 0 },
      { proto: "tcp", containerPort: 80, hostIp: "", hostPort: 8000, hostPortEnd: 8010 },
    ]);
  });

  void it("reads a HostPortEnd of 0 as the host port itself, and field names in any case (Go's decoder)", () => {
    const { requests } = parsePortOptions(pm({ proto: 6, port: 81, hostport: 9000 }));
    assert.deepEqual(requests, [
      { proto: "tcp", containerPort: 81, hostIp: "", hostPort: 9000, hostPortEnd: 9000 },
    ]);
  });

  void it("treats absent and null lists as empty and reads exposed ports", () => {
    assert.deepEqual(parsePortOptions({}), { requests: [], exposed: [] });
    assert.deepEqual(parsePortOptions({ [OPT_PORTMAP]: null, [OPT_EXPOSED_PORTS]: null }).requests, []);
    assert.deepEqual(parsePortOptions({ [OPT_EXPOSED_PORTS]: [{ Proto: 17, Port: 53 }] }).exposed, [
      { proto: "udp", port: 53 },
    ]);
  });

  void it("refuses invalid entries naming the field", () => {
    refused({ [OPT_PORTMAP]: "80" }, /"com\.docker\.network\.portmap": expected a list/);
    refused({ [OPT_PORTMAP]: [7] }, /portmap"\[0\]: expected an object/);
    refused(pm(entry({ Port: 0 })), /portmap"\[0\]\.Port: 0 \(expected an integer 1-65535\)/);
    refused(pm(entry({}), entry({ HostPort: 70000 })), /portmap"\[1\]\.HostPort: 70000/);
    refused(pm(entry({ HostPort: 9000, HostPortEnd: 8000 })), /HostPortEnd: 8000 is below HostPort 9000/);
    refused(pm(entry({ HostPortEnd: 8000 })), /HostPortEnd: 8000 without a HostPort/);
    refused(pm(entry({ HostIP: "300.1.1.1" })), /HostIP: "300\.1\.1\.1" is not an IPv4 or IPv6 address/);
    refused(pm(entry({ HostIP: 5 })), /HostIP: 5/);
    refused(pm(entry({ Proto: 1 })), /Proto: 1 \(expected 6 for TCP or 17 for UDP\)/);
    refused(pm(entry({ Proto: 132 })), /not SCTP/, "WEAVE_UNSUPPORTED");
    refused({ [OPT_EXPOSED_PORTS]: [{ Proto: 6, Port: "80" }] }, /exposedports"\[0\]\.Port: "80"/);
  });
});
