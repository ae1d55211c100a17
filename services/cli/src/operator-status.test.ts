// The operator page's status from a real embedded data directory: before anything ran it is
// empty; while the gateway answers three orders (a checkpoint every 2 receipts) and after it
// stopped and the audit replayed them, each stream shows its head (seq, hash prefix, publication time), its last
// checkpoint and how far behind the head it is, and what the audit's saved state verified.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@countersign/contracts';
import { createAuditFromConfig } from '@countersign/audit';
import { createGatewayFromConfig } from '@countersign/exchange-gateway';
import { createRequesterFromConfig } from '@countersign/requester';
import { prepareDemo } from './demo/prepare.ts';
import { demoOrders } from './demo/workload.ts';
import { embeddedOperatorStatus } from './operator-status.ts';

const dir = mkdtempSync(join(tmpdir(), 'operator-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded operator status', () => {
  it('shows stream heads, checkpoints and the audited seq from the data directory', async () => {
    const { config } = prepareDemo(
      parseConfig({
        env: {
          COUNTERSIGN_DATA_DIR: dir,
          COUNTERSIGN_LOG_LEVEL: 'silent',
          COUNTERSIGN_CHECKPOINT_EVERY: '2',
          COUNTERSIGN_PARTITIONS: '1',
        },
      }),
    );
    const status = embeddedOperatorStatus(config);
    try {
      expect(await status.read()).toEqual({ streams: [], auditSavedAt: null });

      const requester = await createRequesterFromConfig(config);
      const gateway = await createGatewayFromConfig(config);
      const before = Date.now();
      try {
        for (const o of demoOrders(3))
          await requester.requester.submit(o.txn, { account: o.account });
        const messages = await gateway.queue.receive({ max: 10, waitMs: 0 });
        expect(messages).toHaveLength(3);
        for (const m of messages) {
          await gateway.processor.process(m);
          await gateway.queue.delete(m.receiptHandle);
        }
        // A checkpoint every 2 receipts: the third is not covered yet.
        const [running] = (await status.read()).streams;
        expect(running).toMatchObject({ seq: 3, behind: 1, audited: null });
        expect(running?.checkpoint).toMatchObject({ index: 1, seq: 2 });
      } finally {
        await gateway.close();
        await requester.close();
      }
      const audit = createAuditFromConfig(config);
      expect((await audit.replay({})).clean).toBe(true);
      await audit.close();

      const { streams, auditSavedAt } = await status.read();
      expect(streams).toHaveLength(1);
      const s = streams[0]!;
      // Closing, the gateway wrote a final checkpoint; the audit verified up to the head.
      expect(s).toMatchObject({ seq: 3, behind: 0, audited: 3 });
      expect(s.checkpoint).toMatchObject({ index: 2, seq: 3 });
      expect(s.head).toHaveLength(12);
      expect(s.at).toBeGreaterThanOrEqual(before - 1000);
      expect(auditSavedAt).toBeGreaterThanOrEqual(before - 1000);
    } finally {
      status.close();
    }
  });
});
