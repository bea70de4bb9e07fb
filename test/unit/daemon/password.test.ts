/** The cluster password: where it comes from, what is refused, and that only its key is kept. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { derivePresharedKey } from "../../../src/cluster/index.js";
import { parseConfig } from "../../../src/config/index.js";
import { createLogger } from "../../../src/core/index.js";
import { deviceName, presharedKeyOf, readPassword } from "../../../src/daemon/password.js";
import { configError } from "../../helpers/config-errors.js";

const STORE = ["--store", "etcd://10.0.0.1:2379"];

function captureLogger() {
  const out: string[] = [];
  return { logger: createLogger({ level: "warning", sink: (l) => out.push(l) }), lines: () => out };
}

void describe("the cluster password", () => {
  const dir = mkdtempSync(join(tmpdir(), "weave-password-"));

  void it("comes from the file without its trailing newline, or from WEAVE_PASSWORD", () => {
    const file = join(dir, "pw");
    writeFileSync(file, "correct horse battery\n", { mode: 0o600 });
    const { logger, lines } = captureLogger();
    assert.equal(
      readPassword(parseConfig([...STORE, "--password-file", file], {}), logger),
      "correct horse battery",
    );
    assert.deepEqual(lines(), [], "a 0600 file is not warned about");
    assert.equal(
      readPassword(parseConfig(STORE, { WEAVE_PASSWORD: "staple-battery" }), logger),
      "staple-battery",
    );
    assert.equal(readPassword(parseConfig(STORE, {}), logger), undefined);
  });

  void it("warns about a file other users can read, refuses a short password or a missing file", () => {
    const file = join(dir, "open");
    writeFileSync(file, "correct horse battery");
    chmodSync(file, 0o644);
    const { logger, lines } = captureLogger();
    readPassword(parseConfig([...STORE, "--password-file", file], {}), logger);
    assert.ok(lines().some((l) => l.includes("chmod 600")));
    configError(() => readPassword(parseConfig(STORE, { WEAVE_PASSWORD: "short" }), logger), "too short");
    configError(
      () => readPassword(parseConfig([...STORE, "--password-file", join(dir, "none")], {}), logger),
      "Cannot read --password-file",
    );
  });

  void it("yields the same preshared key on every host, and a device name unique per host and state", async () => {
    const config = parseConfig(STORE, { WEAVE_PASSWORD: "correct horse battery" });
    const { logger } = captureLogger();
    assert.equal(await presharedKeyOf(config, logger), await derivePresharedKey("correct horse battery"));
    assert.equal(await presharedKeyOf(parseConfig(STORE, {}), logger), undefined);
    const a = deviceName({ name: "host1", stateDir: "/var/lib/weave" });
    assert.match(a, /^wvg[0-9a-f]{8}$/);
    assert.equal(a, deviceName({ name: "host1", stateDir: "/var/lib/weave" }));
    assert.notEqual(a, deviceName({ name: "host2", stateDir: "/var/lib/weave" }));
    assert.notEqual(a, deviceName({ name: "host1", stateDir: "/tmp/weave" }));
  });
});
