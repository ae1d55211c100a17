// `request status` and `request submit --wait` on the embedded runtime. A stand-in gateway reads
// the requests queue and publishes a receipt for each order, signed with the gateway key in the
// data directory; the commands learn outcomes only from the bus, after verifying them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedPaths, newJti } from '@countersign/contracts';
import { generateKeyFiles } from '@countersign/signing';
import { createSqliteEventBus, createSqliteQueue } from '@countersign/transport';
import { decodeUnverified } from '@countersign/verifier';
import { gatewayKit, type GatewayKit } from '@countersign/requester/testing';
import { CLI_TXN, embeddedCommandIO } from '../testing/command-io.ts';
import { register, requestSubmitCommand } from './requester.ts';

const txn = CLI_TXN;

let dir: string;
let gateway: GatewayKit;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-status-'));
  const key = await generateKeyFiles(embeddedPaths(dir).keysDir, 'gateway', 'ES256');
  gateway = await gatewayKit('demo-gateway', key.signer);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

const io = (input = '') => embeddedCommandIO(dir, input, { COUNTERSIGN_LOG_LEVEL: 'silent' });

/** Receipts every order on the queue: REJECTED for acct-bad, EXECUTED otherwise. */
function standInGateway(): { stop(): Promise<void> } {
  const paths = embeddedPaths(dir);
  const queue = createSqliteQueue({
    path: paths.queueDb,
    visibilityTimeoutSec: 30,
    maxReceives: 5,
  });
  const bus = createSqliteEventBus({ path: paths.busDb });
  const stop = new AbortController();
  const running = (async () => {
    while (!stop.signal.aborted) {
      for (const m of await queue.receive({ max: 10, waitMs: 50, signal: stop.signal })) {
        const claims = decodeUnverified(m.body) as { jti: string; iss: string; sub: string };
        const receipt = await gateway.receipt(
          { iss: claims.iss, jti: claims.jti, account: claims.sub },
          claims.sub === 'acct-bad' ? { outcome: 'REJECTED', reason: 'ACCOUNT_NOT_ALLOWED' } : {},
        );
        await bus.publish([gateway.event(receipt)]);
        await queue.delete(m.receiptHandle);
      }
    }
  })();
  return {
    stop: async () => {
      stop.abort();
      await running;
      await queue.close();
      await bus.close();
    },
  };
}

async function status(args: string[]) {
  const t = io();
  const program = new Command('countersign').exitOverride();
  register(program, t.io);
  await program.parseAsync(['node', 'countersign', 'request', 'status', ...args]);
  return { code: process.exitCode, stdout: t.stdout.text(), stderr: t.stderr.text() };
}

describe('countersign request status / submit --wait (embedded)', () => {
  it('submit --wait prints each order with its outcome; exit 1 when one was not executed', async () => {
    const gw = standInGateway();
    try {
      const t = io(
        [
          { account: 'acct-1', txn },
          { account: 'acct-bad', txn },
          { account: 'acct-2', txn },
        ]
          .map((o) => JSON.stringify(o))
          .join('\n'),
      );
      expect(await requestSubmitCommand({ file: 'x', wait: '30' }, t.io)).toBe(1);
      const lines = t.stdout
        .text()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toEqual([
        expect.objectContaining({ index: 0, status: 'receipted', outcome: 'EXECUTED' }),
        expect.objectContaining({
          index: 1,
          status: 'receipted',
          outcome: 'REJECTED',
          reason: 'ACCOUNT_NOT_ALLOWED',
        }),
        expect.objectContaining({ index: 2, status: 'receipted', outcome: 'EXECUTED' }),
      ]);
      expect(t.stderr.text()).toMatch(/outcomes: 2 EXECUTED, 1 REJECTED ACCOUNT_NOT_ALLOWED/);

      // The status of one of them, later, from another process's point of view (the bus).
      const got = await status([lines[1]!.jti as string]);
      expect(got.code ?? 0).toBe(0);
      const view = JSON.parse(got.stdout) as Record<string, unknown>;
      expect(view).toMatchObject({ status: 'receipted', outcome: 'REJECTED' });
      expect(String(view.receipt).split('.')).toHaveLength(3);
    } finally {
      await gw.stop();
    }
  });

  it('status: queued until a receipt, --wait waits for it; an unknown jti exits 1', async () => {
    const t = io(JSON.stringify({ account: 'acct-1', txn }));
    expect(await requestSubmitCommand({ file: 'x' }, t.io)).toBe(0);
    const jti = (JSON.parse(t.stdout.text()) as { jti: string }).jti;

    const queued = await status([jti]);
    expect(JSON.parse(queued.stdout)).toEqual({ jti, status: 'queued' });

    const gw = standInGateway();
    try {
      const waited = await status([jti, '--wait', '30']);
      expect(JSON.parse(waited.stdout)).toMatchObject({
        jti,
        status: 'receipted',
        outcome: 'EXECUTED',
      });
    } finally {
      await gw.stop();
    }

    const unknown = await status([newJti()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no order/);
    expect((await status(['not-a-jti'])).code).toBe(2);
    expect((await status([jti, '--wait', '99999'])).code).toBe(2);
  });
});
