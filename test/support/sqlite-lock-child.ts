// Child process of requester-faults.test.ts: takes the write lock of a SQLite file (BEGIN
// IMMEDIATE), says "locked", and holds it until a line arrives on stdin; then commits, says
// "released" and exits. Another process's lock, released exactly when the test says so.
import Database from 'better-sqlite3';

const db = new Database(process.argv[2]);
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\n');
process.stdin.once('data', () => {
  db.exec('COMMIT');
  db.close();
  process.stdout.write('released\n');
  process.exit(0);
});
