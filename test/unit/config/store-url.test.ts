import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseStoreUrl } from "../../../src/config/index.js";
import { ScriptedHttp } from "../../../src/core/index.js";
import { EtcdStore } from "../../../src/store/index.js";
import { configError } from "../../helpers/config-errors.js";

void describe("parseStoreUrl", () => {
  void it("turns etcd:// into http endpoints and etcds:// into https, port 2379 by default", () => {
    assert.deepEqual(parseStoreUrl("etcd://h1:2379,h2:2379"), {
      kind: "etcd",
      endpoints: ["http://h1:2379", "http://h2:2379"],
    });
    assert.deepEqual(parseStoreUrl("etcds://h1,h2:2380").endpoints, ["https://h1:2379", "https://h2:2380"]);
    assert.deepEqual(parseStoreUrl("etcd://10.0.0.1").endpoints, ["http://10.0.0.1:2379"]);
    assert.deepEqual(parseStoreUrl("ETCD://etcd-1.example.com.:1").endpoints, [
      "http://etcd-1.example.com.:1",
    ]);
  });

  void it("takes IPv6 hosts in brackets, with or without a port", () => {
    assert.deepEqual(parseStoreUrl("etcd://[fd00::1]:2379").endpoints, ["http://[fd00::1]:2379"]);
    assert.deepEqual(parseStoreUrl("etcds://[::1],10.0.0.2:65535").endpoints, [
      "https://[::1]:2379",
      "https://10.0.0.2:65535",
    ]);
  });

  void it("rejects an unknown or missing scheme, naming it", () => {
    configError(() => parseStoreUrl("http://h1:2379"), '"http://"', "etcd://", "etcds://");
    configError(() => parseStoreUrl("consul://h1"), '"consul://"');
    configError(() => parseStoreUrl("h1:2379"), "etcd://HOST[:PORT]");
    configError(() => parseStoreUrl(""), "etcd://HOST[:PORT]");
  });

  void it("rejects an empty host list or an empty entry in it", () => {
    configError(() => parseStoreUrl("etcd://"), "no host");
    configError(() => parseStoreUrl("etcd://h1,,h2"), "host 2", "empty");
    configError(() => parseStoreUrl("etcd://h1,"), "host 2", "empty");
    configError(() => parseStoreUrl("etcd://:2379"), '":2379"', "no host");
  });

  void it("rejects bad ports, naming the port", () => {
    for (const port of ["0", "65536", "x", "", "-1", "123456", "0x10", "2379:1"])
      configError(
        () => parseStoreUrl(`etcd://h1:${port}`),
        port === "2379:1" ? "brackets" : `port "${port}"`,
      );
    configError(() => parseStoreUrl("etcd://[fd00::1]:99999"), 'port "99999"');
  });

  void it("rejects bad hosts: unbracketed or invalid IPv6, invalid names and IPv4", () => {
    configError(() => parseStoreUrl("etcd://fd00::1"), '"fd00::1"', "brackets");
    configError(() => parseStoreUrl("etcd://[fd00::zz]:2379"), '"fd00::zz"', "not an IPv6");
    configError(() => parseStoreUrl("etcd://[fe80::1%eth0]"), "zone");
    configError(() => parseStoreUrl("etcd://[fd00::1]2379"), '"[fd00::1]2379"');
    configError(() => parseStoreUrl("etcd://10.0.0.300"), '"10.0.0.300"');
    configError(() => parseStoreUrl("etcd://bad_host:2379"), '"bad_host"');
    configError(() => parseStoreUrl("etcd://-h1"), '"-h1"');
  });

  void it("rejects a path, query, fragment or credentials, quoting the part", () => {
    configError(() => parseStoreUrl("etcd://h1:2379/v3"), "path", '"/v3"');
    configError(() => parseStoreUrl("etcd://h1:2379/"), "path", '"/"');
    configError(() => parseStoreUrl("etcd://h1?tls=1"), "query", '"?tls=1"');
    configError(() => parseStoreUrl("etcd://h1#x"), "fragment");
    configError(() => parseStoreUrl("etcd://user:pw@h1"), "user name or password");
  });

  void it("rejects white space anywhere", () => {
    configError(() => parseStoreUrl("etcd://h1, h2"), "white space", "position 11");
    configError(() => parseStoreUrl(" etcd://h1"), "white space");
    configError(() => parseStoreUrl("etcd://h1\n"), "white space");
  });

  void it("produces endpoints EtcdStore accepts and sends its requests to, in order", async () => {
    const { endpoints } = parseStoreUrl("etcds://[fd00::1],h2");
    assert.deepEqual(endpoints, ["https://[fd00::1]:2379", "https://h2:2379"]);
    const refused = Object.assign(new Error("connect ECONNREFUSED fd00::1:2379"), { code: "ECONNREFUSED" });
    const http = new ScriptedHttp()
      .expect("POST https://[fd00::1]:2379/v3/kv/range", { error: refused })
      .expect("POST https://h2:2379/v3/kv/range", { json: { header: { revision: "1" } } });
    const s = new EtcdStore({ endpoints, http });
    assert.equal(await s.get("/k"), undefined);
    http.assertDone();
    await s.close();
  });
});
