/**
 * Model-based property test of the whole plugin API: random sequences of what Docker sends
 * (network create, run, stop, network rm, a stray IpamDriver.GetCapabilities, a retried
 * CreateEndpoint; see model-commands.ts) and of invalid calls, over HTTP against the real routes,
 * driver, IPAM and SQLite state with the fake data plane. After every step the stored state must be
 * consistent (assertConsistent) and agree with the model; every invalid call must be refused
 * naming its field.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { containsAddress, parseAddress } from "../../../src/ipam/index.js";
import type { Cmd, Model, Real } from "./model-commands.js";
import {
  cidr,
  CreateNetwork,
  DuplicateAfterReplay,
  freeAddress,
  newId,
  pick,
  refused,
  RemoveNetwork,
  RetryCreateEndpoint,
  Run,
  Stop,
  StrayCapabilities,
  SubnetAgainAfterReplay,
} from "./model-commands.js";
import { assertConsistent, ModelServer } from "./model-stack.js";

type Field = "Address" | "AddressIPv6" | "MacAddress";

/** CreateEndpoint with one invalid Interface field: refused naming it; nothing stored. */
class BadEndpoint implements Cmd {
  constructor(
    readonly net: number,
    readonly field: Field,
    readonly value: string,
  ) {}
  check = (m: Model): boolean => m.nets.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const n = pick(m.nets, this.net);
    const free = n && freeAddress(m, n, 0);
    if (!n || free === undefined) return;
    const iface: Record<Field, string> = {
      Address: cidr(n.v4.prefix, free),
      AddressIPv6: n.v6 ? cidr(n.v6.prefix, n.v6.prefix.base + 0xbadn) : "",
      MacAddress: "",
    };
    iface[this.field] = this.value;
    const before = r.state.listEndpoints().length;
    const res = await r.server.post("NetworkDriver.CreateEndpoint", {
      NetworkID: n.id,
      EndpointID: newId(m, "b"),
      Interface: iface,
      Options: {},
    });
    refused(res, new RegExp(`Interface\\.${this.field} "`), this.toString());
    assert.equal(r.state.listEndpoints().length, before);
  }
  toString = (): string => `BadEndpoint(${this.field}=${JSON.stringify(this.value)})`;
}

/** CreateNetwork (Docker's own IPAM: no IPAM call) with a bad gateway or aux address. */
class BadNetwork implements Cmd {
  constructor(readonly kind: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const pool = "192.168.7.0/24";
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ Pool: pool, Gateway: "192.168.8.1/24" }, /IPv4Data\[0\]\.Gateway.*not inside/],
      [{ Pool: pool, Gateway: "192.168.7.0/24" }, /IPv4Data\[0\]\.Gateway.*network or broadcast/],
      [{ Pool: pool, Gateway: "fd00::1/64" }, /IPv4Data\[0\]\.Gateway.*not an IPv4/],
      [
        { Pool: pool, Gateway: "192.168.7.1/24", AuxAddresses: { x: "192.168.9.9/24" } },
        /AuxAddresses\.x.*not inside/,
      ],
      [
        { Pool: pool, Gateway: "192.168.7.1/24", AuxAddresses: { x: "192.168.7.1/24" } },
        /AuxAddresses\.x.*gateway/,
      ],
      [
        { Pool: pool, Gateway: "192.168.7.1/24", AuxAddresses: { x: "fe80::1%eth0" } },
        /AuxAddresses\.x.*zone/,
      ],
    ];
    const [data, message] = cases[this.kind % cases.length] ?? cases[0]!;
    const res = await r.server.post("NetworkDriver.CreateNetwork", {
      NetworkID: newId(m, "d"),
      Options: {},
      IPv4Data: [data],
      IPv6Data: [],
    });
    refused(res, message, `BadNetwork(${this.kind})`);
    assert.equal(r.state.listNetworks().length, m.nets.length);
  }
  toString = (): string => `BadNetwork(${this.kind})`;
}

/** Wraps a command: after it, the state is consistent and agrees with the model. */
function checked(cmd: Cmd): Cmd {
  return {
    check: (m) => cmd.check(m),
    run: async (m, r) => {
      await cmd.run(m, r);
      assertConsistent(r.state);
      assert.deepEqual(
        r.state
          .listNetworks()
          .map((n) => n.id)
          .sort(),
        m.nets.map((n) => n.id).sort(),
      );
      assert.deepEqual(
        r.state
          .listEndpoints()
          .map((e) => e.id)
          .sort(),
        m.eps.map((e) => e.id).sort(),
      );
      for (const e of m.eps) {
        const addr = parseAddress(e.v4.split("/")[0] ?? "");
        assert.ok(containsAddress(e.net.v4.prefix, addr));
      }
    },
    toString: () => cmd.toString(),
  };
}

const SUBNETS = [
  "",
  "",
  "10.50.0.0/24",
  "10.50.0.0/16",
  "10.50.1.0/26",
  "10.50.2.0/30",
  "10.60.0.0/28",
  "10.0.0.0/8",
  "10.50.3.0/31",
  "10.50.4.7/32",
  "0.0.0.0/0",
  "10.0.0.0/7",
];
const BAD: Record<Field, string[]> = {
  Address: ["fd00::2/64", "10.50.0.9", "1.2.3.4/24", "10.50.0.2/33", "999.1.1.1/24", "x"],
  AddressIPv6: [
    "fd00::zz/64",
    "::::/64",
    "fe80::1%eth0/64",
    "1:2:3:4:5:6:7:8:9/64",
    "10.0.0.1/24",
    "fd12::1/200",
  ],
  MacAddress: ["zz:42:0a:20:00:02", "01:00:5e:00:00:01", "02:42:0a:20:00", "00:00:00:00:00:00"],
};
const field = fc.constantFrom<Field>("Address", "AddressIPv6", "MacAddress");

const commands = [
  fc.tuple(fc.constantFrom(...SUBNETS), fc.boolean()).map(([s, v6]) => checked(new CreateNetwork(s, v6))),
  fc
    .tuple(fc.nat(), fc.constantFrom<"auto" | "free" | "taken">("auto", "auto", "free", "taken"), fc.nat(300))
    .map(([n, mode, o]) => checked(new Run(n, mode, o))),
  fc.nat().map((e) => checked(new Stop(e))),
  fc.tuple(fc.nat(), fc.nat()).map(([n, e]) => checked(new DuplicateAfterReplay(n, e))),
  fc.nat().map((n) => checked(new RemoveNetwork(n))),
  fc.constant(null).map(() => checked(new StrayCapabilities())),
  fc.nat().map((n) => checked(new SubnetAgainAfterReplay(n))),
  fc.nat().map((e) => checked(new RetryCreateEndpoint(e))),
  fc
    .tuple(fc.nat(), field, fc.nat(), fc.string({ minLength: 1, maxLength: 12 }), fc.boolean())
    .map(([n, f, i, junk, useJunk]) =>
      checked(new BadEndpoint(n, f, useJunk ? `${junk}/` : (BAD[f][i % BAD[f].length] ?? "x"))),
    ),
  fc.nat().map((k) => checked(new BadNetwork(k))),
];

void describe("plugin API: model-based (real routes, driver, IPAM, SQLite; fake data plane)", () => {
  const server = new ModelServer();
  before(() => server.start());
  after(() => server.close());

  void it("random valid and invalid call sequences keep the state consistent; invalid calls are refused naming the field", async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 30 }), async (cmds) => {
        const state = server.fresh();
        try {
          await fc.asyncModelRun(
            () => ({ model: { nets: [], eps: [], seq: 0, replay: false }, real: { server, state } }),
            cmds,
          );
        } finally {
          state.close();
        }
      }),
      { numRuns: 100, includeErrorInReport: true },
    );
  });
});
