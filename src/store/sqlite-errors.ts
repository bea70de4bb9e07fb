/**
 * What weave says when it cannot use its state database. SQLite's own messages ("database disk image
 * is malformed", "file is not a database") name no file and suggest nothing; every refusal here names
 * the file and says what to do, in the words of the "Recovery" section of docs/operations.md (a unit
 * test keeps the two in step).
 *
 * SQLite errors reach weave in two places: while the database is opened (openSqliteState) and in any
 * later call, when a problem is met on a page read for the first time. Both go through
 * {@link stateDatabaseError}; later calls are wrapped by {@link withStateErrors}.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";
import { WeaveError } from "../core/index.js";

/** Where a refusal points the user. */
export const RECOVERY_POINTER = 'see "Recovery" in docs/operations.md';

/** The file kinds SQLite keeps next to the database: write-ahead log, WAL index, rollback journal. */
export const SIDE_FILE_SUFFIXES = ["-wal", "-shm", "-journal"] as const;

/** Bytes of SQLite's database header, and how it starts. */
const HEADER_BYTES = 100;
const MAGIC = "SQLite format 3\0";

/** The usual way out of a damaged database: start afresh, weave adopts from Docker what it still has. */
export function moveAsideAdvice(path: string): string {
  const base = basename(path);
  return (
    `stop weave, move ${base}, ${base}-wal and ${base}-shm out of "${dirname(path)}" and launch weave ` +
    `again: weave rebuilds what it can from Docker`
  );
}

/** "<what failed>; <what to do>; see ...". */
function refusal(sentence: string, todo?: string): string {
  return todo === undefined
    ? `${sentence}; ${RECOVERY_POINTER}`
    : `${sentence}; ${todo}; ${RECOVERY_POINTER}`;
}

/** `PRAGMA integrity_check` found problems (its result lines, "ok" excluded). */
export function corruptionFound(path: string, problems: readonly string[]): WeaveError {
  const first = (problems[0] ?? "").replace(/^\*\*\* in database \w+ \*\*\*\s*/, "").replace(/\s+/g, " ");
  const more = problems.length > 1 ? `; ${problems.length - 1} more problem(s)` : "";
  return new WeaveError(
    "WEAVE_STATE",
    refusal(
      `The state database "${path}" is corrupt (integrity_check: ${first.slice(0, 200)}${more})`,
      moveAsideAdvice(path),
    ),
  );
}

/** The database was written by a newer weave (schema `version`, this weave knows up to `known`). */
export function newerSchemaError(path: string, version: number, known: number): WeaveError {
  return new WeaveError(
    "WEAVE_STATE",
    refusal(
      `The state database "${path}" has schema version ${version}, newer than this weave (${known})`,
      `upgrade weave, or ${moveAsideAdvice(path)}`,
    ),
  );
}

/** SQLite's result code (e.g. "SQLITE_CORRUPT_INDEX") or Node's errno code (e.g. "EACCES") of `err`. */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

const detailOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The primary SQLite code of an extended one: "SQLITE_IOERR_SHORT_READ" -> "SQLITE_IOERR". */
function primary(code: string): string {
  return /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
}

/** Failure kinds that concern the file, not the statement; an extended code counts as its primary one. */
const FILE_LEVEL = new Set([
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_READONLY",
  "SQLITE_PERM",
  "SQLITE_CANTOPEN",
  "SQLITE_FULL",
  "SQLITE_IOERR",
]);

/** True when `err` is a SQLite error about the database file rather than about one statement. */
export function isFileLevelError(err: unknown): boolean {
  return FILE_LEVEL.has(primary(codeOf(err)));
}

/**
 * How short the file at `path` is, when it is a SQLite database cut short: "12 bytes, shorter than the
 * 100-byte header" or "8192 bytes, its header says 40960". Undefined when it is not (or unreadable).
 */
export function truncation(path: string): string | undefined {
  try {
    const size = statSync(path).size;
    if (size === 0) return undefined;
    const header = Buffer.alloc(HEADER_BYTES);
    const fd = openSync(path, "r");
    try {
      readSync(fd, header, 0, HEADER_BYTES, 0);
    } finally {
      closeSync(fd);
    }
    // Only what starts like a database (or a piece of its first bytes) can be one cut short.
    const magic = Math.min(size, MAGIC.length);
    if (header.toString("latin1", 0, magic) !== MAGIC.slice(0, magic)) return undefined;
    if (size < HEADER_BYTES) return `${size} bytes, shorter than the ${HEADER_BYTES}-byte header`;
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    // The page count in the header is valid only when the two change counters agree.
    const pages = header.readUInt32BE(24) === header.readUInt32BE(92) ? header.readUInt32BE(28) : 0;
    const expected = pages * pageSize;
    if (expected > size) return `${size} bytes, its header says ${expected}`;
    if (pageSize >= 512 && size % pageSize !== 0) return `${size} bytes, not a whole number of pages`;
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * Translates any failure to open or use the state database at `path` into WEAVE_STATE naming the file
 * and saying what to do. WeaveErrors pass through unchanged. Reads the file's header when SQLite
 * reports corruption (to tell a truncated file apart); does not block otherwise.
 */
export function stateDatabaseError(path: string, err: unknown): WeaveError {
  if (err instanceof WeaveError) return err;
  return new WeaveError("WEAVE_STATE", refusalMessage(path, err), { cause: err });
}

/**
 * Why SQLite could not open the file, when the file system says: the errno error of a write-access
 * check on the directory, then on the file (EROFS, EACCES, ...), or undefined.
 */
function cantOpenCause(path: string): Error | undefined {
  for (const p of [dirname(path), path]) {
    try {
      accessSync(p, constants.W_OK);
    } catch (err) {
      if (codeOf(err) !== "ENOENT") return err as Error;
    }
  }
  return undefined;
}

function refusalMessage(path: string, err: unknown): string {
  const code = codeOf(err);
  if (code === "SQLITE_CANTOPEN") {
    const cause = cantOpenCause(path);
    if (cause !== undefined) return refusalMessage(path, cause);
  }
  const detail = detailOf(err);
  const db = `The state database "${path}"`;
  const dir = `"${dirname(path)}"`;
  switch (primary(code)) {
    case "SQLITE_CORRUPT":
    case "SQLITE_NOTADB": {
      const cut = truncation(path);
      if (cut !== undefined) return refusal(`${db} is truncated (${cut})`, moveAsideAdvice(path));
      const what = code === "SQLITE_NOTADB" ? "is not a SQLite database" : "is corrupt";
      return refusal(`${db} ${what} (${detail})`, moveAsideAdvice(path));
    }
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return refusal(
        `${db} is locked by another process (${detail})`,
        `stop that process (another weave with the same --state-dir, or a sqlite3 shell; fuser -v ${path} shows it) and launch weave again`,
      );
    case "SQLITE_READONLY":
    case "EROFS":
      return refusal(
        `${db} cannot be written (${detail})`,
        `make ${dir} and the files in it writable by root (not on a read-only file system, no chattr +i) and launch weave again`,
      );
    case "SQLITE_PERM":
    case "EACCES":
    case "EPERM":
      return refusal(
        `Permission denied on the state database "${path}" (${detail})`,
        `run weave as root, make ${dir} and the files in it writable by root and launch weave again`,
      );
    case "SQLITE_CANTOPEN":
    case "ENOTDIR":
    case "EISDIR":
    case "EEXIST":
      return refusal(
        `Cannot open the state database "${path}" (${detail})`,
        `check that ${dir} is a directory, that "${path}" is a regular file, both writable by root, and launch weave again`,
      );
    case "SQLITE_FULL":
    case "ENOSPC":
      return refusal(
        `${db} cannot grow (${detail})`,
        `free space on the file system of ${dir} and launch weave again`,
      );
    case "SQLITE_IOERR":
    case "EIO":
      return refusal(
        `${db} cannot be read or written (${detail})`,
        `check the disk (dmesg); if the error stays, ${moveAsideAdvice(path)}`,
      );
    default:
      return refusal(`Cannot use the state database "${path}" (${detail})`);
  }
}

/**
 * Wraps `target` so that a file-level SQLite error thrown by any of its methods (a corrupt page read
 * for the first time, a full disk, a lock) becomes {@link stateDatabaseError}. Other errors (a
 * constraint, a caller's own error thrown inside `transaction`) pass through unchanged.
 */
export function withStateErrors<T extends object>(target: T, path: string): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== "function") return value;
      return (...args: unknown[]): unknown => {
        try {
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        } catch (err) {
          throw isFileLevelError(err) ? stateDatabaseError(path, err) : err;
        }
      };
    },
  });
}
