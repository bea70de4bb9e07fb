/**
 * packaging/systemd/weave.service: systemd's own checker accepts it (`systemd-analyze verify`, when
 * installed), it has the settings docs/running.md promises, and its readiness check waits for the
 * plugin socket.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const UNIT = fileURLToPath(new URL("../../../packaging/systemd/weave.service", import.meta.url));
const WEAVE = "/usr/local/bin/weave";

/** Section name -> key -> values (a key may repeat), as systemd reads the file. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] ?? "", current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && current, `line ${i + 1} is neither a section, a comment nor Key=value: ${raw}`);
    const [, key = "", value = ""] = kv;
    current.set(key, [...(current.get(key) ?? []), value]);
  }
  return sections;
}

function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(delimiter);
  for (const dir of [...dirs, "/usr/bin", "/bin"]) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

const text = readFileSync(UNIT, "utf8");
const unit = parseUnit(text);
const get = (section: string, key: string): string[] => unit.get(section)?.get(key) ?? [];
const analyze = findOnPath("systemd-analyze");

void describe("packaging/systemd/weave.service", () => {
  void it(
    "passes `systemd-analyze verify` without a warning",
    { skip: analyze === undefined ? "systemd-analyze is not installed (package systemd)" : false },
    () => {
      // verify also checks that ExecStart's program exists: point it at a stub in a copy of the unit.
      const dir = mkdtempSync(join(tmpdir(), "weave-unit-"));
      try {
        const stub = join(dir, "weave");
        writeFileSync(stub, "#!/bin/sh\nexit 0\n");
        chmodSync(stub, 0o755);
        const copy = join(dir, "weave.service");
        writeFileSync(copy, text.replaceAll(WEAVE, stub));
        const r = spawnSync(analyze ?? "systemd-analyze", ["verify", copy], { encoding: "utf8" });
        assert.equal(r.status, 0, `systemd-analyze verify failed:\n${r.stderr}${r.stdout}`);
        assert.equal(r.stderr.trim(), "", `systemd-analyze verify warned:\n${r.stderr}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  void it("runs weave in the foreground, restarts it on failure, reads /etc/default/weave", () => {
    assert.deepEqual(get("Service", "ExecStart"), [`${WEAVE} launch --foreground`]);
    assert.deepEqual(get("Service", "Restart"), ["on-failure"]);
    assert.deepEqual(get("Service", "EnvironmentFile"), ["-/etc/default/weave"]);
    assert.deepEqual(get("Service", "Type"), ["exec"]);
    const stopSec = Number(get("Service", "TimeoutStopSec")[0]);
    assert.ok(stopSec > 10, "longer than weave's own 10 s shutdown deadline");
  });

  void it("starts before Docker, never after it, and comes with it", () => {
    assert.ok(get("Unit", "Before").join(" ").split(/\s+/).includes("docker.service"));
    for (const key of ["After", "Requires", "BindsTo", "Requisite", "PartOf"]) {
      const units = get("Unit", key).join(" ").split(/\s+/);
      assert.ok(!units.includes("docker.service"), `${key}= must not name docker.service`);
      assert.ok(!units.includes("docker.socket"), `${key}= must not name docker.socket`);
    }
    const wantedBy = get("Install", "WantedBy").join(" ").split(/\s+/);
    assert.ok(wantedBy.includes("multi-user.target") && wantedBy.includes("docker.service"));
  });

  void it("is ready only once the plugin socket and the control socket exist (ExecStartPost)", async () => {
    const [post] = get("Service", "ExecStartPost");
    const m = /^\/bin\/sh -c '(.*)'$/.exec(post ?? "");
    assert.ok(m?.[1], `ExecStartPost is a /bin/sh -c '...' script: ${post}`);
    const script = m[1].replaceAll("$$", "$"); // systemd's escape for a literal "$"
    const dir = mkdtempSync(join(tmpdir(), "weave-unit-"));
    const socket = join(dir, "plugin.sock");
    const runDir = join(dir, "run");
    mkdirSync(runDir);
    try {
      const plugin = createServer();
      const control = createServer();
      const started = Date.now();
      setTimeout(() => plugin.listen(socket), 300);
      setTimeout(() => control.listen(join(runDir, "weave.sock")), 600);
      const code = await runShell(script, { WEAVE_SOCKET: socket, WEAVE_RUN_DIR: runDir });
      plugin.close();
      control.close();
      assert.equal(code, 0);
      assert.ok(Date.now() - started >= 600, "waited for both sockets");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs `sh -c script` with extra environment; resolves with its exit code. */
function runShell(script: string, env: Record<string, string>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", script], { env: { ...process.env, ...env }, stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code) => resolve(code));
  });
}
