/**
 * The "Recovery" section of docs/operations.md quotes weave's refusals of the state database word for
 * word: each message is made here by the code, for a database in a throwaway directory standing for
 * /var/lib/weave, and must appear in that section.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { openSqliteState } from "../../../src/store/index.js";
import {
  corruptionFound,
  newerSchemaError,
  RECOVERY_POINTER,
  stateDatabaseError,
} from "../../../src/store/sqlite-errors.js";

const DOC = readFileSync(new URL("../../../docs/operations.md", import.meta.url), "utf8");
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The text of section `## title` (up to the next `## ` heading). */
function section(title: string): string {
  const start = DOC.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `docs/operations.md has a "## ${title}" section`);
  const end = DOC.indexOf("\n## ", start + 1);
  return DOC.slice(start, end < 0 ? undefined : end);
}

/** `make(path)`'s message for a database in a fresh directory, shown as if it were /var/lib/weave. */
function asDocumented(make: (path: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), "weave-docs-"));
  dirs.push(dir);
  return make(join(dir, "weave.db")).replaceAll(dir, "/var/lib/weave");
}

const sqlite = (message: string, code: string): Error => new Database.SqliteError(message, code);

const MESSAGES: [string, (path: string) => string][] = [
  [
    "corrupt",
    (p) => stateDatabaseError(p, sqlite("database disk image is malformed", "SQLITE_CORRUPT")).message,
  ],
  [
    "corrupt, found by integrity_check",
    (p) =>
      corruptionFound(p, [
        "*** in database main ***\nTree 7 page 169: btreeInitPage() returns error code 11",
        "wrong # of entries in index sqlite_autoindex_endpoints_2",
      ]).message,
  ],
  [
    "truncated, as weave finds it",
    (p) => {
      writeFileSync(p, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(34)])); // 50 bytes
      return messageOf(() => openSqliteState(p));
    },
  ],
  ["not a database", (p) => stateDatabaseError(p, sqlite("file is not a database", "SQLITE_NOTADB")).message],
  ["newer schema", (p) => newerSchemaError(p, 9, 4).message],
  ["locked", (p) => stateDatabaseError(p, sqlite("database is locked", "SQLITE_BUSY")).message],
  [
    "read-only mount",
    (p) =>
      stateDatabaseError(
        p,
        Object.assign(new Error(`EROFS: read-only file system, access '${dirname(p)}'`), { code: "EROFS" }),
      ).message,
  ],
  [
    "read-only",
    (p) => stateDatabaseError(p, sqlite("attempt to write a readonly database", "SQLITE_READONLY")).message,
  ],
  [
    "permission denied",
    (p) =>
      stateDatabaseError(
        p,
        Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: "EACCES" }),
      ).message,
  ],
  [
    "cannot open",
    (p) => stateDatabaseError(p, sqlite("unable to open database file", "SQLITE_CANTOPEN")).message,
  ],
  ["disk full", (p) => stateDatabaseError(p, sqlite("database or disk is full", "SQLITE_FULL")).message],
  ["I/O error", (p) => stateDatabaseError(p, sqlite("disk I/O error", "SQLITE_IOERR")).message],
];

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  assert.fail("expected a refusal");
}

const TITLE = "Recovery";

void describe('docs/operations.md "Recovery" quotes the messages', () => {
  const text = section(TITLE);
  for (const [name, make] of MESSAGES) {
    void it(name, () => {
      const message = asDocumented(make);
      assert.ok(message.endsWith(`; ${RECOVERY_POINTER}`), message);
      assert.ok(text.includes(message), `docs/operations.md "Recovery" lacks:\n${message}`);
    });
  }

  void it("the pointer in the messages names that section", () => {
    assert.equal(RECOVERY_POINTER, `see "${TITLE}" in docs/operations.md`);
  });
});
