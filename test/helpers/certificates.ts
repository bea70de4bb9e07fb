/**
 * A throwaway PKI for TLS tests, made with `openssl` in `dir`: ca.pem/ca.key, server.pem/server.key
 * (for the given IP addresses and localhost) and client.pem/client.key (client authentication).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFile } from "../../src/core/index.js";

/** Makes a CA, a server certificate for `serverIps` (default 127.0.0.1) and a client certificate. */
export async function makeCertificates(
  dir: string,
  serverIps: readonly string[] = ["127.0.0.1"],
): Promise<void> {
  const f = (name: string) => join(dir, name);
  const key = (name: string) => [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    f(name),
  ];
  await execFile("openssl", [
    "req",
    "-x509",
    ...key("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=weave test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const sign = async (name: string, subject: string, extensions: string) => {
    writeFileSync(f(`${name}.ext`), extensions);
    await execFile("openssl", ["req", ...key(`${name}.key`), "-out", f(`${name}.csr`), "-subj", subject]);
    await execFile("openssl", [
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-out",
      f(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      f(`${name}.ext`),
    ]);
  };
  await sign(
    "server",
    "/CN=etcd",
    `subjectAltName=${serverIps.map((ip) => `IP:${ip}`).join(",")},DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  await sign("client", "/CN=weave", "extendedKeyUsage=clientAuth\n");
}
