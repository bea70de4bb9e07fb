import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config/index.js";
import { KeyedSerialQueue, silentLogger } from "../../../src/core/index.js";
import { DnsRecords } from "../../../src/daemon/dns-records.js";
import { DnsService } from "../../../src/daemon/dns-service.js";
import { FakeDocker } from "../../../src/docker/index.js";
import type { DnsRecord } from "../../../src/store/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const record = (fqdn: string, address: string, containerId = "", network = ""): DnsRecord => ({
  fqdn,
  address,
  containerId,
  network,
  createdAt: 1,
});
const texts = (rs: readonly DnsRecord[]): string[] =>
  rs.map((r) => `${r.fqdn} ${r.address} ${r.containerId || "-"} ${r.network || "-"}`).sort();

void describe("DnsRecords", () => {
  const C = "c".repeat(64);

  function withRecords() {
    const state = openSqliteState(":memory:");
    const records = new DnsRecords(state);
    records.add([
      record("a.weave.local.", "10.0.0.1"),
      record("a.weave.local.", "10.0.0.2"),
      record("a.weave.local.", "10.0.0.3", "", "blue"),
      record("a.weave.local.", "10.0.0.4", C),
      record("b.weave.local.", "10.0.0.5"),
    ]);
    return { state, records };
  }

  void it("removes the addresses given, of the name, for that container (or none), on any network", () => {
    const { state, records } = withRecords();
    const removed = records.remove({
      fqdn: "a.weave.local.",
      containerId: "",
      network: undefined,
      ips: ["10.0.0.1", "10.0.0.3"],
    });
    assert.deepEqual(texts(removed), ["a.weave.local. 10.0.0.1 - -", "a.weave.local. 10.0.0.3 - blue"]);
    assert.deepEqual(texts(state.listDnsRecords()), [
      "a.weave.local. 10.0.0.2 - -",
      `a.weave.local. 10.0.0.4 ${C} -`,
      "b.weave.local. 10.0.0.5 - -",
    ]);
  });

  void it("without addresses removes every address of the name, on one network when given", () => {
    const { records } = withRecords();
    const onBlue = records.remove({ fqdn: "a.weave.local.", containerId: "", network: "blue", ips: [] });
    assert.deepEqual(texts(onBlue), ["a.weave.local. 10.0.0.3 - blue"]);
    const everywhere = records.remove({ fqdn: "a.weave.local.", containerId: "", network: "", ips: [] });
    assert.deepEqual(texts(everywhere), ["a.weave.local. 10.0.0.1 - -", "a.weave.local. 10.0.0.2 - -"]);
    assert.deepEqual(texts(records.list()), [
      `a.weave.local. 10.0.0.4 ${C} -`,
      "b.weave.local. 10.0.0.5 - -",
    ]);
  });

  void it("forgets the records of a container, and only those", () => {
    const { records } = withRecords();
    assert.equal(records.forgetContainer(C), 1);
    assert.equal(records.forgetContainer(C), 0);
    assert.equal(records.list().length, 4);
  });
});

void describe("DnsService: weave dns-add and dns-remove", () => {
  function service() {
    const state = openSqliteState(":memory:");
    const dns = new DnsService({
      config: parseConfig(["--dns-port", "5353"], {}),
      state,
      docker: new FakeDocker(),
      queue: new KeyedSerialQueue(),
      logger: silentLogger,
    });
    return { state, dns };
  }

  void it("keeps the records it adds and answers with them until they are removed", async () => {
    const { state, dns } = service();
    const added = await dns.add({ ips: ["10.9.9.9", "fd00::9"], fqdn: "ext" });
    assert.deepEqual(texts(added), ["ext.weave.local. 10.9.9.9 - -", "ext.weave.local. fd00::9 - -"]);
    assert.deepEqual(texts(state.listDnsRecords()), texts(added));
    assert.deepEqual(dns.lookup("ext.weave.local"), ["10.9.9.9", "fd00::9"]);
    assert.equal(await dns.remove({ ips: ["fd00::9"], fqdn: "ext" }), 1);
    assert.deepEqual(dns.lookup("ext.weave.local"), ["10.9.9.9"]);
    assert.equal(await dns.remove({ ips: [], fqdn: "ext" }), 1);
    assert.deepEqual(state.listDnsRecords(), []);
    assert.deepEqual(dns.lookup("ext.weave.local"), []);
  });
});
