/**
 * The TLS files of weave's `--store` (`--store-ca`, `--store-cert`, `--store-key`): read and checked
 * before the etcd client uses them. The `--store` URL itself is parsed by config (store-url.ts there).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { WeaveError, errorMessage } from "../core/index.js";
import type { EtcdTlsOptions } from "./etcd-store.js";

/** File names of the PEM files for TLS to the store; "" or absent for none. */
export interface StoreTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Reads the PEM files for TLS to etcd and checks them (the CA is a certificate; the client
 * certificate and key parse and belong together). TLS is on when any file is given or the endpoints
 * are already https:// (etcds://); files switch http:// endpoints to https://. Returns options ready to
 * spread into EtcdStoreOptions; `tls` is absent when no file is given. `read` reads a file as text
 * (injectable for tests). Reads files, so it may block briefly on the disk.
 * Rejects with WeaveError WEAVE_CONFIG (naming the file) when a file cannot be read or is not what it
 * should be, or when a client certificate comes without its key or a key without its certificate.
 */
export async function loadStoreTls(
  files: StoreTlsFiles,
  endpoints: readonly string[],
  read: (path: string) => Promise<string> = (path) => readFile(path, "utf8"),
): Promise<{ endpoints: string[]; tls?: EtcdTlsOptions }> {
  const ca = files.ca ?? "";
  const cert = files.cert ?? "";
  const key = files.key ?? "";
  if (cert !== "" && key === "")
    throw new WeaveError(
      "WEAVE_CONFIG",
      `The etcd client certificate "${cert}" needs its private key (--store-key)`,
    );
  if (key !== "" && cert === "")
    throw new WeaveError("WEAVE_CONFIG", `The etcd client key "${key}" needs its certificate (--store-cert)`);
  if (ca === "" && cert === "") return { endpoints: [...endpoints] };

  const load = async (what: string, path: string): Promise<string> => {
    try {
      return await read(path);
    } catch (err) {
      throw new WeaveError("WEAVE_CONFIG", `Cannot read the ${what} "${path}": ${errorMessage(err)}`, {
        cause: err,
      });
    }
  };
  const check = (what: string, path: string, parse: () => unknown): void => {
    try {
      parse();
    } catch (err) {
      throw new WeaveError("WEAVE_CONFIG", `The ${what} "${path}" is not usable: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  };

  const tls: EtcdTlsOptions = {};
  if (ca !== "") {
    tls.ca = await load("etcd CA file", ca);
    check("etcd CA file", ca, () => new X509Certificate(tls.ca ?? ""));
  }
  if (cert !== "") {
    const certPem = await load("etcd client certificate", cert);
    const keyPem = await load("etcd client key", key);
    check("etcd client certificate", cert, () => new X509Certificate(certPem));
    check("etcd client key", key, () => createPrivateKey(keyPem));
    try {
      createSecureContext({ cert: certPem, key: keyPem });
    } catch (err) {
      throw new WeaveError(
        "WEAVE_CONFIG",
        `The etcd client key "${key}" does not go with the certificate "${cert}": ${errorMessage(err)}`,
        { cause: err },
      );
    }
    tls.cert = certPem;
    tls.key = keyPem;
  }
  return { endpoints: endpoints.map((e) => e.replace(/^http:\/\//, "https://")), tls };
}
