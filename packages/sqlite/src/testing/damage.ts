// Test helpers: damage a SQLite file the way a disk, an operator or an attacker would, at an
// exact point (never by timing luck).
import { closeSync, openSync, writeSync } from 'node:fs';

const PAGE = 4096;

/**
 * Overwrites every page from `fromPage` (1-based; page 1 holds the header and the schema) to
 * the end of the first `pages` pages with 0xA5 bytes. Only for files no process has open.
 */
export function corruptPages(path: string, fromPage = 2, pages = 16): void {
  const fd = openSync(path, 'r+');
  try {
    const garbage = Buffer.alloc(PAGE, 0xa5);
    for (let p = fromPage; p < fromPage + pages; p++)
      writeSync(fd, garbage, 0, PAGE, (p - 1) * PAGE);
  } finally {
    closeSync(fd);
  }
}
