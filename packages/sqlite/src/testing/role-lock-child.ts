// Test fixture (not a test): a separate process that takes a role lock, says so on stdout, and
// holds it until it is killed.
import { acquireRoleLock } from '../role-lock.ts';

const [dataDir, role] = process.argv.slice(2);
if (!dataDir || !role) throw new Error('usage: role-lock-child.ts <dataDir> <role>');
acquireRoleLock(dataDir, role);
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000); // stay alive
