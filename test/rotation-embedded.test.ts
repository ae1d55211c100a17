// Issue 18 on the embedded runtime: `countersign keys rotate` of the requester and the gateway
// key while `npm start`'s pipeline is running, `npm start` again on the rotated keys, and the
// audit replay across both runs. Then the old requester key retired: a token it signs after
// its retirement is refused KEY_RETIRED (a signed REJECTED receipt), and audit stays clean.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AuditReport,
  ReceiptEventDetail,
  TokenTypes,
  embeddedPaths,
  parseConfig,
} from '@countersign/contracts';
import { keysRotateCommand, runDemo } from '@countersign/cli';
import { createAuditFromConfig } from '@countersign/audit';
import { createLocalSigner, readJwksFile, signJwt } from '@countersign/signing';
import { decodeUnverified } from '@countersign/verifier';
import { createSqliteEventBus, createSqliteQueue } from '@countersign/transport';
import { createGatewayFromConfig, createWorker, silentLogger } from '@countersign/exchange-gateway';
import { until } from './support/receipts.ts';

function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as {
    kid: string;
  };
  return header.kid;
}

async function archived(dataDir: string): Promise<ReceiptEventDetail[]> {
  const bus = createSqliteEventBus({ path: embeddedPaths(dataDir).busDb });
  const out: ReceiptEventDetail[] = [];
  for await (const e of bus.read({})) out.push(ReceiptEventDetail.parse(e.detail));
  await bus.close();
  return out;
}

async function rotate(
  env: Record<string, string>,
  name: 'requester' | 'gateway',
  flags: { activateAfter?: string; retireAfter?: string } = {},
): Promise<{ kid: string; signsFrom: string }> {
  let out = '';
  const stdout = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const stderr = new Writable({ write: (_c, _e, done) => done() });
  const code = await keysRotateCommand({ name, ...flags }, { env, stdout, stderr });
  expect(code).toBe(0);
  return JSON.parse(out) as { kid: string; signsFrom: string };
}

describe('key rotation on the embedded runtime', () => {
  it('rotates both keys mid-stream, runs again on the new keys, audits clean across both, and refuses a retired key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cs-rotation-'));
    const env = { COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_HTTP_PORT: '0' };
    const config = parseConfig({ env });
    const keysDir = embeddedPaths(dataDir).keysDir;

    // Run 1: the rotation happens while orders are being submitted and processed.
    let rotation: Promise<{ kid: string; signsFrom: string }[]> | undefined;
    const first = await runDemo({
      config,
      count: 40,
      concurrency: 4,
      signal: new AbortController().signal,
      onProgress: (p) => {
        if (rotation || p.submitted < 20) return;
        rotation = (async () => [
          await rotate(env, 'requester', { activateAfter: '1' }),
          await rotate(env, 'gateway', { activateAfter: '1' }),
        ])();
      },
    });
    expect(rotation).toBeDefined();
    const [requesterV2, gatewayV2] = await rotation!;
    expect(first.expectations.filter((e) => !e.ok)).toEqual([]);
    expect(first.audit).toMatchObject({
      liveFindings: 0,
      replay: { findings: 0, chain: 'intact' },
    });

    // Run 2 (`npm start` after the rotation), once the new keys sign.
    const signsFrom = Math.max(
      Date.parse(requesterV2!.signsFrom),
      Date.parse(gatewayV2!.signsFrom),
    );
    await until(() => Date.now() > signsFrom + 1000, 10_000, 'the new keys to sign');
    const second = await runDemo({
      config,
      count: 20,
      concurrency: 4,
      signal: new AbortController().signal,
    });
    expect(second.expectations.filter((e) => !e.ok)).toEqual([]);
    // Its replay reads the archive from the start: every receipt of both runs, both gateway keys.
    expect(second.audit.replay).toMatchObject({ findings: 0, chain: 'intact' });
    expect(second.audit.replay?.receipts).toBe(first.receipts.total + second.receipts.total);
    const events = await archived(dataDir);
    const receiptKids = new Set(events.map((e) => kidOf(e.receipt)));
    const requestKids = new Set(events.flatMap((e) => (e.request ? [kidOf(e.request)] : [])));
    const requesterKeys = (await readJwksFile(join(keysDir, 'requester.jwks.json'))).keys;
    const gatewayKeys = (await readJwksFile(join(keysDir, 'gateway.jwks.json'))).keys;
    expect(gatewayKeys.map((k) => k.kid)).toHaveLength(2);
    for (const k of gatewayKeys) expect(receiptKids).toContain(k.kid);
    for (const k of requesterKeys) expect(requestKids).toContain(k.kid);
    expect(requestKids).toContain(requesterV2!.kid);
    expect(receiptKids).toContain(gatewayV2!.kid);

    // Retire every requester key now: v1 signing now is KEY_RETIRED at the gateway. (From the
    // next whole second: retirement is in seconds, and run 2 signed up to this one.)
    const nextSecond = (Math.floor(Date.now() / 1000) + 1) * 1000;
    await until(() => Date.now() >= nextSecond, 5000, 'the next second');
    await rotate(env, 'requester', { activateAfter: '0', retireAfter: '0' });
    const v1 = await createLocalSigner({
      privateKey: createPrivateKey(readFileSync(join(keysDir, 'requester.pem'))),
      alg: config.requester.alg,
    });
    const iat = Math.floor(Date.now() / 1000) + 1;
    const jti = 'retired-v1-token-00000';
    const token = await signJwt(
      v1,
      {
        iss: config.requester.id,
        sub: 'acct-1',
        aud: config.gateway.id,
        iat,
        nbf: iat,
        exp: iat + 60,
        jti,
        txn: {
          type: 'order',
          side: 'buy',
          symbol: 'BTC-USD',
          quantity: '0.01',
          limitPrice: '100',
          timeInForce: 'GTC',
        },
      },
      { typ: TokenTypes.REQUEST },
    );
    const queue = createSqliteQueue({
      path: embeddedPaths(dataDir).queueDb,
      visibilityTimeoutSec: 30,
      maxReceives: 5,
    });
    await until(() => Date.now() >= iat * 1000, 5000, 'the token to be signed after retirement');
    await queue.sendBatch([{ body: token, groupId: 'acct-1', dedupId: jti }]);
    const gw = await createGatewayFromConfig(config, { logger: silentLogger });
    const worker = createWorker({
      queue: gw.queue,
      processor: gw.processor,
      concurrency: 2,
      waitMs: 100,
      visibilityTimeoutSec: 30,
      reconcileIntervalMs: 0,
    });
    const running = worker.run();
    await until(
      () => {
        const d = queue.depth();
        return d.visible === 0 && d.inFlight === 0;
      },
      30_000,
      'the retired token to be answered',
    );
    await worker.stop();
    await running;
    await gw.close();
    await queue.close();
    const answer = (await archived(dataDir)).find((e) => e.request === token);
    expect(answer).toBeDefined();
    expect(decodeUnverified(answer!.receipt)).toMatchObject({
      outcome: 'REJECTED',
      reason: 'KEY_RETIRED',
    });

    // Audit across all of it: clean (a refused token is a receipt, not a finding).
    const audit = createAuditFromConfig(config);
    await audit.preflight();
    const report = AuditReport.parse(await audit.replay({ from: 0, to: Date.now() + 60_000 }));
    await audit.close();
    expect(report.findings).toEqual([]);
    expect(report.summary.receipts).toBe((second.audit.replay?.receipts ?? NaN) + 1);
  });
});
