/**
 * Opening the state database: its directory and file modes, a corruption check, the migrations, and
 * the translation of SQLite's errors into messages that name the file (sqlite-errors.ts).
 */
import Database from "better-sqlite3";
import type { Logger } from "../core/index.js";
import { silentLogger } from "../core/index.js";
import { MIGRATIONS } from "./migrations.js";
import { corruptionFound, newerSchemaError, stateDatabaseError, withStateErrors } from "./sqlite-errors.js";
import { prepareStateFiles, tightenStateFiles } from "./sqlite-files.js";
import { SqliteState } from "./sqlite-state.js";
import type { LocalState } from "./types.js";

/** Options of {@link openSqliteState}. */
export interface SqliteStateOptions {
  /** Where to say that a mode was tightened (default: nowhere). */
  logger?: Logger;
  /** How long to wait for a lock another process holds, in ms (default 5000). */
  busyTimeoutMs?: number;
}

/**
 * LocalState in SQLite (WAL, synchronous=FULL, foreign keys on). Pass ":memory:" for tests.
 * The state directory is made (or tightened to) 0700 and the database files 0600; the database is
 * checked with `PRAGMA integrity_check` (about 20 ms for 10,000 endpoints, see bench/state-check.ts)
 * and migrated. Blocks while it does so. Throws WEAVE_STATE naming the file and saying what to do
 * when the database cannot be opened, is damaged or is newer than this program; later file-level
 * SQLite errors are translated the same way.
 */
export function openSqliteState(path: string, options: SqliteStateOptions = {}): LocalState {
  const log = options.logger ?? silentLogger;
  const inFile = path !== ":memory:";
  const busyTimeout = options.busyTimeoutMs ?? 5000;
  let db: Database.Database | undefined;
  try {
    if (inFile) prepareStateFiles(path, log);
    db = new Database(path, { timeout: busyTimeout });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma(`busy_timeout = ${busyTimeout}`);
    if (inFile) tightenStateFiles(path, log); // the -wal and -shm SQLite has just made
    checkIntegrity(db, path);
    migrate(db, path);
    // SQLite opens a file it cannot write (chattr +i) read-only and says so at the first write: find
    // out now with a write that changes nothing (BEGIN IMMEDIATE alone does not tell in WAL mode).
    db.exec("DELETE FROM meta WHERE 0");
    return withStateErrors(new SqliteState(db), path);
  } catch (err) {
    db?.close();
    throw stateDatabaseError(path, err);
  }
}

/**
 * Corruption in pages no query has read yet is otherwise found only by a later call. integrity_check
 * rather than quick_check: it also compares every index with its table, and costs about 3 times as
 * much, a few ms for a usual host (bench/state-check.ts). It throws SQLITE_CORRUPT for some damage.
 */
function checkIntegrity(db: Database.Database, path: string): void {
  const rows = db.pragma("integrity_check") as { integrity_check: string }[];
  const problems = rows.map((r) => r.integrity_check).filter((line) => line !== "ok");
  if (problems.length > 0) throw corruptionFound(path, problems);
}

function migrate(db: Database.Database, path: string): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) throw newerSchemaError(path, current, MIGRATIONS.length);
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v] ?? "";
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
