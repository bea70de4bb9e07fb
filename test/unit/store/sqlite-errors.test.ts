/**
 * Every refusal of the state database names the file and says what to do; corruption in pages no
 * query has read yet is found at open; SQLite errors met later are translated the same way.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { isWeaveError, WeaveError } from "../../../src/core/index.js";
import { openSqliteState, type SqliteStateOptions } from "../../../src/store/index.js";
import { MIGRATIONS } from "../../../src/store/migrations.js";
import {
  moveAsideAdvice,
  RECOVERY_POINTER,
  stateDatabaseError,
  withStateErrors,
} from "../../../src/store/sqlite-errors.js";
import { corruptMiddlePage } from "../../helpers/sqlite-pages.js";

const root = mkdtempSync(join(tmpdir(), "weave-store-errors-"));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const dbPath = (): string => join(root, `s-${++seq}`, "weave.db");

/** A database of `endpoints` endpoints (about 4 pages per 100), closed. */
function filledDatabase(endpoints: number): string {
  const path = dbPath();
  const s = openSqliteState(path);
  const net = "a".repeat(64);
  s.transaction(() => {
    s.putNetwork({
      id: net,
      bridge: "weave-a",
      mtu: 1450,
      internal: false,
      ipv4: [],
      ipv6: [],
      options: {},
      createdAt: 1,
    });
    for (let i = 0; i < endpoints; i++) {
      const hex = i.toString(16).padStart(12, "0");
      s.putEndpoint({
        id: hex.padStart(64, "e"),
        networkId: net,
        hostIf: `vwe${hex}`,
        peerIf: `vwp${hex}`,
        mac: "02:42:0a:20:00:02",
        ipv4: "10.32.0.2/24",
        ipv6: null,
        sandboxKey: `/var/run/docker/netns/${hex}`,
        createdAt: i,
      });
    }
  });
  s.close();
  return path;
}

/** Asserts that opening `path` fails with WEAVE_STATE matching `what`, naming the file, saying what to do. */
function assertRefused(
  path: string,
  what: RegExp,
  todo = moveAsideAdvice(path),
  options: SqliteStateOptions = {},
): string {
  let message = "";
  assert.throws(
    () => openSqliteState(path, options),
    (err: unknown) => {
      assert.ok(isWeaveError(err, "WEAVE_STATE"), String(err));
      message = err.message;
      return true;
    },
  );
  assert.ok(message.startsWith(`The state database "${path}" `), message);
  assert.match(message, what);
  assert.ok(message.endsWith(`; ${todo}; ${RECOVERY_POINTER}`), message);
  return message;
}

void describe("openSqliteState: a damaged database is refused at start, naming the file", () => {
  void it("a file cut in half", () => {
    const path = filledDatabase(2000);
    const size = statSync(path).size;
    truncateSync(path, size / 2);
    assertRefused(path, new RegExp(`is truncated \\(${size / 2} bytes, its header says ${size}\\)`));
  });

  void it("a file shorter than the database header", () => {
    const path = filledDatabase(10);
    truncateSync(path, 50);
    assertRefused(path, /is truncated \(50 bytes, shorter than the 100-byte header\)/);
  });

  void it("a few bytes of text", () => {
    const path = dbPath();
    mkdirSync(join(path, ".."));
    writeFileSync(path, "hello\n");
    assertRefused(path, /is not a SQLite database \(file is not a database\)/);
  });

  void it("a file of garbage", () => {
    const path = dbPath();
    mkdirSync(join(path, ".."));
    writeFileSync(path, Buffer.alloc(64 * 1024, "weave state? no."));
    assertRefused(path, /is not a SQLite database \(file is not a database\)/);
  });

  void it("a file corrupted in its middle pages, which opening alone does not notice", () => {
    const path = filledDatabase(10_000);
    const { page, pages } = corruptMiddlePage(path);
    assert.ok(pages > 300 && page > 100 && page < pages - 100, `page ${page} of ${pages} is in the middle`);
    // What weave did before: open, set the pragmas, read the schema version. All of that succeeds.
    const plain = new Database(path);
    plain.pragma("journal_mode = WAL");
    assert.equal(plain.pragma("user_version", { simple: true }), MIGRATIONS.length);
    plain.close();
    // integrity_check reports the page, or stops at it with SQLite's own message, depending on the page.
    assertRefused(path, /is corrupt \((integrity_check: .*page \d+|database disk image is malformed)/);
  });

  void it("a database from a newer weave", () => {
    const path = filledDatabase(1);
    const db = new Database(path);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assertRefused(
      path,
      new RegExp(
        `has schema version ${MIGRATIONS.length + 1}, newer than this weave \\(${MIGRATIONS.length}\\)`,
      ),
      `upgrade weave, or ${moveAsideAdvice(path)}`,
    );
  });

  void it("a database another process holds locked", () => {
    const path = dbPath();
    mkdirSync(join(path, ".."));
    const holder = new Database(path); // rollback journal: an exclusive lock keeps everyone out
    holder.exec("CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1)");
    try {
      assertRefused(
        path,
        /is locked by another process \(database is locked\)/,
        `stop that process (another weave with the same --state-dir, or a sqlite3 shell; fuser -v ${path} shows it) and launch weave again`,
        { busyTimeoutMs: 100 },
      );
    } finally {
      holder.close();
    }
  });

  void it("a directory where the file should be", () => {
    const path = dbPath();
    mkdirSync(path, { recursive: true });
    assert.throws(
      () => openSqliteState(path),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_STATE") &&
        err.message.startsWith(`Cannot open the state database "${path}" (`) &&
        err.message.endsWith(RECOVERY_POINTER),
    );
  });
});

void describe("stateDatabaseError: what SQLite and the file system report, translated", () => {
  const path = "/var/lib/weave/weave.db";
  const cases: [string, Error, string][] = [
    [
      "read-only",
      new Database.SqliteError("attempt to write a readonly database", "SQLITE_READONLY"),
      `The state database "${path}" cannot be written (attempt to write a readonly database); make "/var/lib/weave" and the files in it writable by root (not on a read-only file system, no chattr +i) and launch weave again`,
    ],
    [
      "permission denied",
      Object.assign(new Error("EACCES: permission denied, mkdir '/var/lib/weave'"), { code: "EACCES" }),
      `Permission denied on the state database "${path}" (EACCES: permission denied, mkdir '/var/lib/weave'); run weave as root, make "/var/lib/weave" and the files in it writable by root and launch weave again`,
    ],
    [
      "disk full",
      new Database.SqliteError("database or disk is full", "SQLITE_FULL"),
      `The state database "${path}" cannot grow (database or disk is full); free space on the file system of "/var/lib/weave" and launch weave again`,
    ],
    [
      "I/O error",
      new Database.SqliteError("disk I/O error", "SQLITE_IOERR_SHORT_READ"),
      `The state database "${path}" cannot be read or written (disk I/O error); check the disk (dmesg); if the error stays, ${moveAsideAdvice(path)}`,
    ],
    [
      "corrupt index (extended code)",
      new Database.SqliteError("database disk image is malformed", "SQLITE_CORRUPT_INDEX"),
      `The state database "${path}" is corrupt (database disk image is malformed); ${moveAsideAdvice(path)}`,
    ],
  ];
  for (const [name, err, message] of cases) {
    void it(name, () => {
      const e = stateDatabaseError(path, err);
      assert.equal(e.code, "WEAVE_STATE");
      assert.equal(e.message, `${message}; ${RECOVERY_POINTER}`);
      assert.equal(e.cause, err);
    });
  }
});

void describe("withStateErrors: errors met after the open", () => {
  const path = "/var/lib/weave/weave.db";
  const failing = (err: Error) =>
    withStateErrors(
      {
        read: (): number => {
          throw err;
        },
        ok: (x: number) => x + 1,
      },
      path,
    );

  void it("a corrupt page read later is refused naming the file", () => {
    assert.throws(
      () => failing(new Database.SqliteError("database disk image is malformed", "SQLITE_CORRUPT")).read(),
      (err: unknown) =>
        isWeaveError(err, "WEAVE_STATE") &&
        err.message ===
          `The state database "${path}" is corrupt (database disk image is malformed); ${moveAsideAdvice(path)}; ${RECOVERY_POINTER}`,
    );
  });

  void it("errors about one statement, and the caller's own errors, pass through unchanged", () => {
    const constraint = new Database.SqliteError(
      "UNIQUE constraint failed: networks.bridge",
      "SQLITE_CONSTRAINT_UNIQUE",
    );
    assert.throws(
      () => failing(constraint).read(),
      (err: unknown) => err === constraint,
    );
    const own = new WeaveError("WEAVE_CONFLICT", "Bridge taken");
    assert.throws(
      () => failing(own).read(),
      (err: unknown) => err === own,
    );
    assert.equal(failing(own).ok(1), 2, "results come back as they are");
  });
});
