// Where the CDK app finds the repository (Lambda entries, lock file) regardless of the cwd.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Handler entry files, one composition root per Lambda (STYLE.md). */
export const LAMBDA_ENTRIES = {
  requester: join(REPO_ROOT, 'services', 'requester', 'src', 'lambda.ts'),
  requesterReceipts: join(REPO_ROOT, 'services', 'requester', 'src', 'receipts-lambda.ts'),
  gateway: join(REPO_ROOT, 'services', 'exchange-gateway', 'src', 'lambda.ts'),
  audit: join(REPO_ROOT, 'services', 'audit', 'src', 'lambda.ts'),
} as const;

export const LOCK_FILE = join(REPO_ROOT, 'package-lock.json');
