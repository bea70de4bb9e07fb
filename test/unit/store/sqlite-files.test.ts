/**
 * Modes of the state directory and database files: new ones are 0700 and 0600 whatever SQLite's
 * defaults, looser existing ones are tightened at start with one log line each.
 */
import { after, afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createLogger } from "../../../src/core/index.js";
import { openSqliteState } from "../../../src/store/index.js";

const root = mkdtempSync(join(tmpdir(), "weave-store-modes-"));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const newDir = (): string => join(root, `s-${++seq}`);
const modeOf = (path: string): string => `0${(statSync(path).mode & 0o777).toString(8)}`;

interface Line {
  level: string;
  component?: string;
  msg: string;
  path?: string;
  oldMode?: string;
  newMode?: string;
  mode?: string;
}
function capture(): { lines: Line[]; logger: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  const logger = createLogger({
    level: "debug",
    component: "state",
    sink: (l) => lines.push(JSON.parse(l) as Line),
  });
  return { lines, logger };
}

// SQLite creates files 0644 less the umask: run under the usual 022 so the defaults would show.
let savedUmask = 0;
beforeEach(() => (savedUmask = process.umask(0o022)));
afterEach(() => process.umask(savedUmask));

void describe("state files: modes of new files", () => {
  void it("creates the directory 0700 and weave.db, weave.db-wal and weave.db-shm 0600, silently", () => {
    const dir = newDir();
    const path = join(dir, "weave.db");
    const { lines, logger } = capture();
    const s = openSqliteState(path, { logger });
    try {
      s.putMeta("k", "v"); // the write-ahead log now holds a frame
      assert.equal(modeOf(dir), "0700");
      assert.equal(modeOf(path), "0600");
      assert.equal(modeOf(`${path}-wal`), "0600");
      assert.equal(modeOf(`${path}-shm`), "0600");
    } finally {
      s.close();
    }
    assert.deepEqual(lines, [], "nothing to tighten, nothing logged");
  });
});

void describe("state files: tightening existing ones", () => {
  void it("tightens an existing 0755 state directory to 0700 and logs one line with both modes", () => {
    const dir = newDir();
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const { lines, logger } = capture();
    openSqliteState(join(dir, "weave.db"), { logger }).close();
    assert.equal(modeOf(dir), "0700");
    assert.deepEqual(
      lines.map((l) => [l.level, l.component, l.msg, l.path, l.oldMode, l.newMode]),
      [["warning", "state", "tightened the mode of the state directory", dir, "0755", "0700"]],
    );
  });

  void it("tightens an existing weave.db, -wal and -shm to 0600, one line per file", () => {
    const dir = newDir();
    const path = join(dir, "weave.db");
    openSqliteState(path).close();
    // Another connection keeps the -wal and -shm files in place while weave opens the database.
    const other = new Database(path);
    try {
      other.pragma("journal_mode = WAL");
      other.prepare("INSERT INTO meta (key, value) VALUES ('x', 'y')").run();
      chmodSync(path, 0o644);
      chmodSync(`${path}-wal`, 0o664);
      chmodSync(`${path}-shm`, 0o666);
      const { lines, logger } = capture();
      const s = openSqliteState(path, { logger });
      assert.equal(s.getMeta("x"), "y");
      s.close();
      assert.deepEqual(
        [modeOf(path), modeOf(`${path}-wal`), modeOf(`${path}-shm`)],
        ["0600", "0600", "0600"],
      );
      assert.deepEqual(
        lines.map((l) => [l.msg, l.path, l.oldMode, l.newMode]),
        [
          ["tightened the mode of a state file", path, "0644", "0600"],
          ["tightened the mode of a state file", `${path}-wal`, "0664", "0600"],
          ["tightened the mode of a state file", `${path}-shm`, "0666", "0600"],
        ],
      );
    } finally {
      other.close();
    }
  });

  void it("leaves a looser directory that holds other files as it is, and says why", () => {
    const dir = newDir();
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "someone-else.conf"), "x");
    const { lines, logger } = capture();
    openSqliteState(join(dir, "weave.db"), { logger }).close();
    assert.equal(modeOf(dir), "0755");
    assert.equal(modeOf(join(dir, "weave.db")), "0600", "the database itself is still private");
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, "warning");
    assert.equal(lines[0]?.path, dir);
    assert.equal(lines[0]?.mode, "0755");
    assert.match(lines[0]?.msg ?? "", /holds other files; its mode is left as is/);
  });
});
