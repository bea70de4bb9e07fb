/**
 * Damages a SQLite database file the way a bad disk block does: one whole page in the middle of the
 * file is overwritten, the header (page 1) is left intact. Reads the file format directly
 * (https://www.sqlite.org/fileformat.html), so it needs no SQLite connection and leaves no -wal or
 * -shm file behind. Used by unit tests and by the e2e recovery test (through /proc/PID/root).
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";

/** B-tree page kinds (first byte of a page): interior/leaf index, interior/leaf table. */
const BTREE_KINDS = new Set([0x02, 0x05, 0x0a, 0x0d]);

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, offset);
  return buf;
}

/** Page numbers on the freelist (trunk and leaf pages): their content is not checked by SQLite. */
function freePages(fd: number, pageSize: number, firstTrunk: number): Set<number> {
  const free = new Set<number>();
  for (let trunk = firstTrunk; trunk !== 0 && !free.has(trunk);) {
    free.add(trunk);
    const page = readAt(fd, (trunk - 1) * pageSize, pageSize);
    const leaves = page.readUInt32BE(4);
    for (let i = 0; i < leaves; i++) free.add(page.readUInt32BE(8 + 4 * i));
    trunk = page.readUInt32BE(0);
  }
  return free;
}

/**
 * Overwrites the b-tree page nearest the middle of the database at `path` (never page 1) with the
 * byte 0xAB, and returns its number and the page count. Throws when the file has no such page
 * (fewer than 3 pages) or is not a database. The database must not be open for writing.
 */
export function corruptMiddlePage(path: string): { page: number; pages: number } {
  const fd = openSync(path, "r+");
  try {
    const header = readAt(fd, 0, 100);
    if (header.toString("latin1", 0, 16) !== "SQLite format 3\0")
      throw new Error(`${path} is not a database`);
    // With auto-vacuum, pointer-map pages could pass for b-tree pages; weave never turns it on.
    if (header.readUInt32BE(52) !== 0) throw new Error(`${path} uses auto-vacuum, not supported here`);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    const pages = Math.floor(fstatSync(fd).size / pageSize);
    const free = freePages(fd, pageSize, header.readUInt32BE(32));
    const middle = Math.ceil(pages / 2);
    const candidates = Array.from({ length: pages - 1 }, (_, i) => i + 2)
      .filter((p) => !free.has(p) && BTREE_KINDS.has(readAt(fd, (p - 1) * pageSize, 1)[0] ?? 0))
      .sort((a, b) => Math.abs(a - middle) - Math.abs(b - middle));
    const page = candidates[0];
    if (page === undefined || pages < 3)
      throw new Error(`${path} has no b-tree page to damage (${pages} pages)`);
    writeSync(fd, Buffer.alloc(pageSize, 0xab), 0, pageSize, (page - 1) * pageSize);
    return { page, pages };
  } finally {
    closeSync(fd);
  }
}
