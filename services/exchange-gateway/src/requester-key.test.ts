// The embedded gateway started before the requester wrote its key (one `npm start` on a fresh
// data directory): it says so at start and trusts the key file once it appears, without a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EmbeddedKeyNames,
  ReceiptEventDetail,
  embeddedPaths,
  parseConfig,
} from '@countersign/contracts';
import { ensureLocalSigner } from '@countersign/signing';
import { createSqliteEventBus } from '@countersign/transport';
import { silentLogger, type Logger } from './ports.ts';
import { readOwnReceipt } from './receipts.ts';
import { delivery, orderToken } from './testing/index.ts';
import { createGatewayFromConfig } from './wiring.ts';

describe("the deployment's requester key file", () => {
  it('missing at start: a warning, then trusted once it appears (no UNKNOWN_KID until restart)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-reqkey-'));
    const config = parseConfig({
      env: {
        COUNTERSIGN_DATA_DIR: dir,
        COUNTERSIGN_POLICIES: JSON.stringify([
          { id: 'demo-requester', accounts: ['acct-1'], symbols: ['BTC-USD'], maxNotional: '1000' },
        ]),
      },
      part: 'gateway',
    });
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_o, m) => void warnings.push(m ?? '') };
    let now = Date.now();
    const gw = await createGatewayFromConfig(config, { logger, clock: { now: () => now } });
    expect(warnings).toEqual([expect.stringContaining('no requester key trusted yet')]);

    const requester = await ensureLocalSigner(
      embeddedPaths(dir).keysDir,
      EmbeddedKeyNames.REQUESTER,
      'ES256',
    );
    now += 2000; // past the once-a-second bound on looking for the file
    const token = await orderToken(requester, {
      iss: 'demo-requester',
      sub: 'acct-1',
      aud: config.gateway.id,
    });
    expect((await gw.processor.process(delivery(token, 'acct-1'))).action).toBe('delete');
    await gw.close();

    const bus = createSqliteEventBus({ path: embeddedPaths(dir).busDb });
    const outcomes: string[] = [];
    for await (const e of bus.read({})) {
      const r = readOwnReceipt(ReceiptEventDetail.parse(e.detail).receipt);
      outcomes.push(`${r.outcome}${r.reason ? ` ${r.reason}` : ''}`);
    }
    await bus.close();
    expect(outcomes).toEqual(['EXECUTED']);
    rmSync(dir, { recursive: true, force: true });
  });
});
