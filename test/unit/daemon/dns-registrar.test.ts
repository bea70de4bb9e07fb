import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { DnsRecords } from "../../../src/daemon/dns-records.js";
import { DnsRegistrar, manualEntries } from "../../../src/daemon/dns-registrar.js";
import type { DockerContainer } from "../../../src/docker/index.js";
import { FakeDocker } from "../../../src/docker/index.js";
import { Zone } from "../../../src/dns/index.js";
import { containerEntries } from "../../../src/dns/container-names.js";
import { openSqliteState } from "../../../src/store/index.js";

const WEAVE_NET = "w".repeat(64);
const OTHER_NET = "o".repeat(64);
const DOMAIN = "weave.local.";

function container(
  id: string,
  name: string,
  opts: Partial<{
    running: boolean;
    hostname: string;
    domainname: string;
    aliases: string[];
    ip: string;
    ip6: string;
    net: string;
  }> = {},
): DockerContainer {
  return {
    Id: id,
    Name: `/${name}`,
    State: { Running: opts.running ?? true },
    Config: { Hostname: opts.hostname ?? id.slice(0, 12), Domainname: opts.domainname ?? "" },
    NetworkSettings: {
      Networks: {
        n1: {
          NetworkID: opts.net ?? WEAVE_NET,
          EndpointID: "e",
          IPAddress: opts.ip ?? "10.32.0.2",
          GlobalIPv6Address: opts.ip6 ?? "",
          MacAddress: "",
          Aliases: opts.aliases ?? [id.slice(0, 12)],
        },
      },
    },
  };
}

const isWeave = (id: string) => id === WEAVE_NET;

void describe("containerEntries", () => {
  void it("names a container by name, in-domain hostname and aliases, but not its short ID", () => {
    const id = "a1b2c3d4e5f6".padEnd(64, "0");
    const c = container(id, "db", {
      hostname: "db1",
      domainname: "weave.local",
      aliases: [id.slice(0, 12), "database", "x.y"],
      ip6: "fd00::2",
    });
    const names = containerEntries(c, isWeave, DOMAIN)
      .map((e) => e.name)
      .sort();
    assert.deepEqual(names, [
      "database.weave.local.",
      "db.weave.local.",
      "db1.weave.local.",
      "x.y.weave.local.",
    ]);
    for (const e of containerEntries(c, isWeave, DOMAIN)) {
      assert.deepEqual(e.ipv4, ["10.32.0.2"]);
      assert.deepEqual(e.ipv6, ["fd00::2"]);
    }
  });

  void it("ignores hostnames outside the domain, other networks, stopped containers and invalid names", () => {
    assert.deepEqual(
      containerEntries(
        container("b".repeat(64), "web", { hostname: "web.example.com" }),
        isWeave,
        DOMAIN,
      ).map((e) => e.name),
      ["web.weave.local."],
    );
    assert.deepEqual(
      containerEntries(container("c".repeat(64), "x", { net: OTHER_NET }), isWeave, DOMAIN),
      [],
    );
    assert.deepEqual(
      containerEntries(container("d".repeat(64), "y", { running: false }), isWeave, DOMAIN),
      [],
    );
    assert.deepEqual(containerEntries(container("e".repeat(64), "bad!name"), isWeave, DOMAIN), []);
  });
});

void describe("DnsRegistrar", () => {
  function setup(domain = DOMAIN, log?: (line: string) => void) {
    const docker = new FakeDocker();
    const zone = new Zone({ domain, ttl: 1 });
    const state = openSqliteState(":memory:");
    const owner = new DnsRecords(state);
    /** Containers whose records the registrar had their owner forget. */
    const forgotten: string[] = [];
    const registrar = new DnsRegistrar({
      docker,
      dockerSocket: "/nonexistent/docker.sock",
      zone,
      state,
      records: {
        forgetContainer: (id) => {
          forgotten.push(id);
          return owner.forgetContainer(id);
        },
      },
      queue: new KeyedSerialQueue(),
      logger: log ? createLogger({ level: "warning", sink: log }) : silentLogger,
      isWeaveNetwork: isWeave,
    });
    const addresses = (name: string): string[] => {
      const r = zone.lookup(name, 1);
      return r.kind === "answer" ? r.answers.map((a) => (a.type === "A" ? a.address : "")).sort() : [];
    };
    return { docker, zone, state, registrar, addresses, forgotten };
  }

  void it("refresh follows what Docker says now, whatever the event order", async () => {
    const h = setup();
    const id = "1".repeat(64);
    h.docker.putContainer(container(id, "db"));
    await h.registrar.refresh(id);
    assert.deepEqual(h.addresses("db.weave.local."), ["10.32.0.2"]);
    h.docker.putContainer(container(id, "db", { running: false }));
    await h.registrar.refresh(id); // a late "start" event of a container that already exited
    assert.deepEqual(h.addresses("db.weave.local."), []);
    h.docker.containers.delete(id);
    await h.registrar.refresh(id);
    assert.deepEqual(h.zone.ownerKeys(), []);
  });

  void it("reconcileAll registers running containers and drops names of others", async () => {
    const h = setup();
    h.docker.putContainer(container("1".repeat(64), "a", { ip: "10.32.0.2" }));
    h.docker.putContainer(container("2".repeat(64), "b", { ip: "10.32.0.3", running: false }));
    h.zone.set(`c:${"3".repeat(64)}`, [{ name: "gone", ipv4: ["10.32.0.9"] }]);
    await h.registrar.reconcileAll();
    assert.deepEqual(h.addresses("a.weave.local."), ["10.32.0.2"]);
    assert.deepEqual(h.addresses("b.weave.local."), []);
    assert.deepEqual(h.addresses("gone.weave.local."), []);
  });

  void it("publishes records added by hand: untied always, tied while the container runs", async () => {
    const h = setup();
    const id = "4".repeat(64);
    h.state.putDnsRecord({
      fqdn: "ext.weave.local.",
      address: "10.9.9.9",
      containerId: "",
      network: "",
      createdAt: 1,
    });
    h.state.putDnsRecord({
      fqdn: "tied.weave.local.",
      address: "10.9.9.7",
      containerId: id,
      network: "",
      createdAt: 1,
    });
    h.registrar.publishManual();
    assert.deepEqual(h.addresses("ext.weave.local."), ["10.9.9.9"]);
    h.docker.putContainer(container(id, "t"));
    await h.registrar.refresh(id);
    assert.deepEqual(h.addresses("tied.weave.local."), ["10.9.9.7"]);
    await h.registrar.refresh(id, true); // destroyed
    assert.equal(h.state.listDnsRecords().filter((r) => r.containerId === id).length, 0);
  });

  void it("a container gone takes its records added by hand with it, through their owner", async () => {
    const h = setup();
    const [destroyed, vanished, running] = ["a".repeat(64), "b".repeat(64), "c".repeat(64)];
    for (const [containerId, address] of [
      [destroyed, "10.9.9.1"],
      [vanished, "10.9.9.2"],
      [running, "10.9.9.3"],
      ["", "10.9.9.4"],
    ] as const) {
      h.state.putDnsRecord({ fqdn: "x.weave.local.", address, containerId, network: "", createdAt: 1 });
    }
    h.docker.putContainer(container(destroyed, "d"));
    h.docker.putContainer(container(running, "r"));
    await h.registrar.refresh(destroyed, true); // its "destroy" event, before Docker forgot it
    assert.deepEqual(h.forgotten, [destroyed]);
    h.docker.containers.delete(destroyed);
    await h.registrar.reconcileAll(); // `vanished` went while weave was down
    assert.deepEqual(h.forgotten, [destroyed, vanished]);
    assert.deepEqual(
      h.state
        .listDnsRecords()
        .map((r) => r.address)
        .sort(),
      ["10.9.9.3", "10.9.9.4"],
    );
  });

  void it("a record that no longer fits the domain is skipped (said once), every other name registered", async () => {
    const logged: string[] = [];
    const h = setup(DOMAIN.replace("weave.local.", "foo.bar."), (msg) => logged.push(msg));
    const [id1, id2] = ["5".repeat(64), "6".repeat(64)];
    h.state.putDnsRecord({
      fqdn: "keep.weave.local.",
      address: "10.9.9.5",
      containerId: id1,
      network: "",
      createdAt: 1,
    });
    h.state.putDnsRecord({
      fqdn: "old.weave.local.",
      address: "10.9.9.4",
      containerId: "",
      network: "",
      createdAt: 1,
    });
    h.state.putDnsRecord({
      fqdn: "new.foo.bar.",
      address: "10.9.9.3",
      containerId: "",
      network: "",
      createdAt: 1,
    });
    h.docker.putContainer(container(id1, "c1", { ip: "10.32.0.5" }));
    h.docker.putContainer(container(id2, "c2", { ip: "10.32.0.6" }));
    h.registrar.publishManual();
    await h.registrar.reconcileAll();
    await h.registrar.reconcileAll();
    assert.deepEqual(h.addresses("c1.foo.bar."), ["10.32.0.5"]);
    assert.deepEqual(h.addresses("c2.foo.bar."), ["10.32.0.6"]);
    assert.deepEqual(h.addresses("new.foo.bar."), ["10.9.9.3"]);
    assert.deepEqual(
      h.registrar
        .skippedRecords()
        .map((r) => `${r.fqdn} ${r.container}`)
        .sort(),
      [`keep.weave.local. ${id1}`, "old.weave.local. "],
    );
    assert.equal(logged.filter((m) => m.includes("skipped")).length, 2, "each said once");
    h.state.deleteDnsRecord({ fqdn: "old.weave.local.", address: "10.9.9.4", containerId: "", network: "" });
    assert.equal(h.registrar.skippedRecords().length, 1, "a removed record is no longer listed");
  });

  void it("a hostname Docker lists among the aliases obeys the hostname rule", () => {
    const id = "8".repeat(64);
    const outside = container(id, "c", {
      hostname: "seetwo.foo.bar",
      aliases: [id.slice(0, 12), "seetwo.foo.bar"],
    });
    assert.deepEqual(
      containerEntries(outside, isWeave, DOMAIN).map((e) => e.name),
      ["c.weave.local."],
    );
    const inside = container(id, "c", {
      hostname: "seethree.weave.local",
      aliases: ["seethree.weave.local"],
    });
    assert.deepEqual(
      containerEntries(inside, isWeave, DOMAIN)
        .map((e) => e.name)
        .sort(),
      ["c.weave.local.", "seethree.weave.local."],
    );
  });

  void it("scopes names to their network and marks the container's own addresses", () => {
    const id = "7".repeat(64);
    const c = container(id, "web", { aliases: ["www"] });
    const entries = containerEntries(c, isWeave, DOMAIN);
    assert.deepEqual(
      entries.map((e) => [e.name, e.scope, e.member]),
      [
        ["web.weave.local.", "n1", true],
        ["www.weave.local.", "n1", true],
      ],
    );
  });

  void it("manualEntries groups addresses by name, network and family", () => {
    const rs = [
      { fqdn: "a.weave.local.", address: "10.0.0.1", containerId: "", network: "", createdAt: 1 },
      { fqdn: "a.weave.local.", address: "fd00::1", containerId: "", network: "", createdAt: 1 },
      { fqdn: "a.weave.local.", address: "10.0.0.3", containerId: "", network: "blue", createdAt: 1 },
      { fqdn: "b.weave.local.", address: "10.0.0.2", containerId: "x", network: "", createdAt: 1 },
    ];
    assert.deepEqual(manualEntries(rs, ""), [
      { name: "a.weave.local.", scope: "", ipv4: ["10.0.0.1"], ipv6: ["fd00::1"] },
      { name: "a.weave.local.", scope: "blue", ipv4: ["10.0.0.3"], ipv6: [] },
    ]);
  });
});
