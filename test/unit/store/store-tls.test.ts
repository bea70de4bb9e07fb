import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { EtcdStore, loadStoreTls } from "../../../src/store/index.js";
import { configError, configRejects } from "../../helpers/config-errors.js";

// A throwaway self-signed certificate (its key was never kept): public material only.
const CERT = `-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUbETLTrbjgh72YinB0tndbm+1nOwwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSd2VhdmUgdW5pdCB0ZXN0IENBMCAXDTI2MTEyODE4MDA1N1oY
DzIxMjYxMTA0MTgwMDU3WjAdMRswGQYDVQQDDBJ3ZWF2ZSB1bml0IHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ8PfplSbvWBkMFheCLfWeHe7J56HmA
rQiocfe3GtFdx8xwwMJiSYvVJ9pTLP9B3QHb8BIvP2n8q8HNbuE4Dpsko1MwUTAd
BgNVHQ4EFgQUzgZ9kB64k4u2M0Zi5xekCjfFodUwHwYDVR0jBBgwFoAUzgZ9kB64
k4u2M0Zi5xekCjfFodUwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEApW9VpN88MpXe0LWglpKvKUQyESH700BiO2pq9iCCTl4CIB0V9cHN9DzhdcWH
XqeUsoceq1dKUvizj0sJ5VB65VDY
-----END CERTIFICATE-----
`;

/** A file reader over an in-memory map, failing like readFile for a missing file. */
function files(contents: Record<string, string>): (path: string) => Promise<string> {
  return async (path) => {
    const text = contents[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  };
}

void describe("loadStoreTls", () => {
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();

  void it("without files leaves the endpoints alone and returns no TLS options", async () => {
    assert.deepEqual(await loadStoreTls({}, ["http://h1:2379"], files({})), {
      endpoints: ["http://h1:2379"],
    });
    assert.deepEqual(await loadStoreTls({ ca: "", cert: "", key: "" }, ["https://h1:2379"], files({})), {
      endpoints: ["https://h1:2379"],
    });
  });

  void it("reads the CA and switches the endpoints to https", async () => {
    const r = await loadStoreTls(
      { ca: "/etc/weave/ca.pem" },
      ["http://h1:2379", "https://h2:2380"],
      files({
        "/etc/weave/ca.pem": CERT,
      }),
    );
    assert.deepEqual(r, { endpoints: ["https://h1:2379", "https://h2:2380"], tls: { ca: CERT } });
    // What it returns is what EtcdStore takes.
    await new EtcdStore({ ...r, timeoutMs: 100 }).close();
  });

  void it("needs the client certificate and key together", async () => {
    await configRejects(loadStoreTls({ cert: "/c.pem" }, ["http://h1:2379"], files({})), '"/c.pem"', "key");
    await configRejects(
      loadStoreTls({ key: "/k.pem", cert: "" }, ["http://h1:2379"], files({})),
      '"/k.pem"',
      "certificate",
    );
  });

  void it("names the file it cannot read", async () => {
    await configRejects(
      loadStoreTls({ ca: "/nope/ca.pem" }, ["http://h1:2379"], files({})),
      'Cannot read the etcd CA file "/nope/ca.pem"',
      "ENOENT",
    );
    await configRejects(
      loadStoreTls({ cert: "/c.pem", key: "/k.pem" }, ["http://h1:2379"], files({ "/c.pem": CERT })),
      '"/k.pem"',
    );
  });

  void it("names a file that is not PEM, or a key that does not go with the certificate", async () => {
    await configRejects(
      loadStoreTls({ ca: "/ca.pem" }, ["http://h1:2379"], files({ "/ca.pem": "hello" })),
      'etcd CA file "/ca.pem"',
    );
    await configRejects(
      loadStoreTls({ cert: "/c.pem", key: "/k.pem" }, [], files({ "/c.pem": "x", "/k.pem": otherKey })),
      'certificate "/c.pem"',
    );
    await configRejects(
      loadStoreTls({ cert: "/c.pem", key: "/k.pem" }, [], files({ "/c.pem": CERT, "/k.pem": "x" })),
      'key "/k.pem"',
    );
    await configRejects(
      loadStoreTls({ cert: "/c.pem", key: "/k.pem" }, [], files({ "/c.pem": CERT, "/k.pem": otherKey })),
      '"/k.pem" does not go with the certificate "/c.pem"',
    );
  });
});

void describe("EtcdStore options", () => {
  void it("rejects endpoints that are not http(s):// and a client certificate without its key", () => {
    configError(() => new EtcdStore({ endpoints: [] }), "No etcd endpoint");
    configError(() => new EtcdStore({ endpoints: ["etcd://h1:2379"] }), '"etcd://h1:2379"');
    configError(() => new EtcdStore({ endpoints: ["h1:2379"] }), '"h1:2379"');
    configError(
      () => new EtcdStore({ endpoints: ["https://h1:2379"], tls: { cert: CERT } }),
      "certificate and its key",
    );
    configError(
      () => new EtcdStore({ endpoints: ["https://h1:2379"], tls: { cert: CERT, key: "x" } }),
      "Invalid TLS options",
    );
  });
});
