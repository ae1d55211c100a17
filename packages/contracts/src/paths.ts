// File layout of the embedded runtime's data directory (`.countersign/` by default).
// One place, so the requester, gateway, audit and CLI always agree.
import { join } from 'node:path';
import { CONFIG_FILE_NAME } from './config-file.ts';

export interface EmbeddedPaths {
  readonly root: string;
  readonly keysDir: string;
  /** Requests queue (+ its DLQ) and the requester's idempotency records. */
  readonly queueDb: string;
  /** Event bus = archive, and live consumer cursors. */
  readonly busDb: string;
  /** Nonce records and chain heads. */
  readonly nonceDb: string;
  /** Requester HTTP API state (idempotency keys). */
  readonly requesterDb: string;
  /** Paper exchange orders. */
  readonly exchangeDb: string;
  /** Orders of the local exchange simulator (`countersign exchange-sim`, `--exchange sim`). */
  readonly exchangeSimDb: string;
  /** Sealed exchange API credentials (envelope-encrypted, see the gateway README). */
  readonly exchangeCredentials: string;
  /** Local key-encryption key of the sealed credentials (embedded runtime, 0600). */
  readonly exchangeKek: string;
  /** Audit's own state (live chain positions, findings). */
  readonly auditDb: string;
  /** Signed checkpoints: the append-only checkpoint log lives here. */
  readonly checkpointsDir: string;
  /** The append-only checkpoint log (SQLite): every checkpoint of every stream, never rewritten. */
  readonly checkpointLog: string;
  /** What `audit replay` / `audit live` remember between runs (last verified head per stream). */
  readonly auditState: string;
  /** The data directory's configuration (`countersign init`; every command reads it). */
  readonly configFile: string;
}

/** Key names inside keysDir: `<name>.pem` (PKCS#8, 0600) and `<name>.jwks.json`. */
export const EmbeddedKeyNames = { REQUESTER: 'requester', GATEWAY: 'gateway' } as const;

export function embeddedPaths(dataDir: string): EmbeddedPaths {
  return {
    root: dataDir,
    keysDir: join(dataDir, 'keys'),
    queueDb: join(dataDir, 'queue.sqlite'),
    busDb: join(dataDir, 'bus.sqlite'),
    nonceDb: join(dataDir, 'nonces.sqlite'),
    requesterDb: join(dataDir, 'requester.sqlite'),
    exchangeDb: join(dataDir, 'exchange.sqlite'),
    exchangeSimDb: join(dataDir, 'exchange-sim.sqlite'),
    exchangeCredentials: join(dataDir, 'exchange-credentials.sealed.json'),
    exchangeKek: join(dataDir, 'keys', 'exchange-kek.key'),
    auditDb: join(dataDir, 'audit.sqlite'),
    checkpointsDir: join(dataDir, 'checkpoints'),
    checkpointLog: join(dataDir, 'checkpoints', 'checkpoints.sqlite'),
    auditState: join(dataDir, 'audit-state.json'),
    configFile: join(dataDir, CONFIG_FILE_NAME),
  };
}
