/**
 * Modes of the state directory and of the database files. The database holds every network,
 * address and container ID of the host: only root reads it. SQLite creates a database 0644 (less the
 * umask) and gives the -wal, -shm and -journal files the mode of the database file, so creating the
 * database file 0600 before SQLite opens it makes all of them 0600. Files and a directory left looser
 * by an older weave, or by hand, are tightened at start and the change is logged.
 */
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "../core/index.js";
import { SIDE_FILE_SUFFIXES } from "./sqlite-errors.js";

/** Mode of the state directory. */
export const STATE_DIR_MODE = 0o700;
/** Mode of the database and of its -wal, -shm and -journal files. */
export const STATE_FILE_MODE = 0o600;

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;

/** True when `mode` gives group or others any access. */
const looser = (mode: number): boolean => (mode & 0o077) !== 0;

/**
 * Makes the state directory of `dbPath` ready: creates it 0700, or tightens an existing one to 0700
 * (logging a warning with the old and new mode), then tightens the database's existing files to 0600
 * and creates the database file 0600 if it does not exist. Synchronous file system calls; throws
 * Node's errno errors (EACCES, EROFS, ...), which the caller translates.
 *
 * A looser directory that holds files other than the database's is left as it is, with a warning:
 * it is then not weave's own (e.g. `--state-dir /var/lib`), and tightening it would lock others out.
 */
export function prepareStateFiles(dbPath: string, log: Logger): void {
  const dir = dirname(dbPath);
  mkdirSync(dir, { recursive: true, mode: STATE_DIR_MODE });
  const mode = statSync(dir).mode;
  if (looser(mode)) {
    const others = readdirSync(dir).filter((name) => !name.startsWith(basename(dbPath)));
    if (others.length === 0) {
      chmodSync(dir, STATE_DIR_MODE);
      log.warning("tightened the mode of the state directory", {
        path: dir,
        oldMode: octal(mode),
        newMode: octal(STATE_DIR_MODE),
      });
    } else {
      log.warning(
        "the state directory is open to other users but holds other files; its mode is left as is",
        {
          path: dir,
          mode: octal(mode),
          others: others.slice(0, 5),
        },
      );
    }
  }
  tightenStateFiles(dbPath, log);
  try {
    closeSync(openSync(dbPath, "wx", STATE_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}

/**
 * Sets the database file and its -wal, -shm and -journal files to 0600 when they exist with a looser
 * mode, logging one warning per file with the old and new mode.
 */
export function tightenStateFiles(dbPath: string, log: Logger): void {
  for (const file of [dbPath, ...SIDE_FILE_SUFFIXES.map((s) => `${dbPath}${s}`)]) {
    let mode: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) continue;
      mode = st.mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    if (!looser(mode)) continue;
    chmodSync(file, STATE_FILE_MODE);
    log.warning("tightened the mode of a state file", {
      path: file,
      oldMode: octal(mode),
      newMode: octal(STATE_FILE_MODE),
    });
  }
}
