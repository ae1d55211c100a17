import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('reads COUNTERSIGN_BATCH_SIGNING as on/off (unset: the runtime decides) and names a bad value', () => {
    expect(parseConfig({ env: {} }).requester.batchSigning).toBeUndefined();
    expect(parseConfig({ env: { COUNTERSIGN_BATCH_SIGNING: 'on' } }).requester.batchSigning).toBe(
      true,
    );
    expect(parseConfig({ env: { COUNTERSIGN_BATCH_SIGNING: 'off' } }).requester.batchSigning).toBe(
      false,
    );
    expect(
      issues(() => parseConfig({ env: { COUNTERSIGN_BATCH_SIGNING: 'yes' } })).join(),
    ).toContain('COUNTERSIGN_BATCH_SIGNING');
  });

  it('has working embedded defaults', () => {
    const cfg = parseConfig({ env: {} });
    expect(cfg.mode).toBe('embedded');
    expect(cfg.gateway.id).toBe('demo-gateway');
    expect(cfg.requester.lifetimeSec).toBe(60);
    expect(cfg.gateway.clockSkewSec).toBe(30);
  });

  it('reads env over the file', () => {
    const cfg = parseConfig({
      env: { COUNTERSIGN_GATEWAY_ID: 'gw-env', COUNTERSIGN_PARTITIONS: '16' },
      file: { gateway: { id: 'gw-file', concurrency: 4 } },
    });
    expect(cfg.gateway).toMatchObject({ id: 'gw-env', partitions: 16, concurrency: 4 });
  });

  it('names each bad env variable', () => {
    expect(
      issues(() =>
        parseConfig({
          env: {
            COUNTERSIGN_GATEWAY_ID: 'bad id!',
            COUNTERSIGN_HTTP_PORT: 'eighty',
            COUNTERSIGN_TOKEN_LIFETIME_SEC: '900',
          },
        }),
      ),
    ).toEqual([
      'COUNTERSIGN_TOKEN_LIFETIME_SEC: must be a whole number between 1 and 300',
      'COUNTERSIGN_HTTP_PORT: must be a whole number between 0 and 65535',
      'COUNTERSIGN_GATEWAY_ID: must match [A-Za-z0-9._:-]{1,64}',
    ]);
  });

  it('requires the AWS resources of the part being started', () => {
    expect(
      issues(() => parseConfig({ env: { COUNTERSIGN_MODE: 'aws' }, part: 'gateway' })),
    ).toEqual([
      'COUNTERSIGN_GATEWAY_KMS_KEY_ID: required in aws mode',
      'COUNTERSIGN_QUEUE_URL: required in aws mode',
      'COUNTERSIGN_NONCE_TABLE: required in aws mode',
    ]);
    // The requester keeps its Idempotency-Key records in DynamoDB in aws mode (issue 13 F2), and
    // verifies receipts with the gateway's key (issue 16).
    expect(
      issues(() =>
        parseConfig({
          env: {
            COUNTERSIGN_MODE: 'aws',
            COUNTERSIGN_REQUESTER_KMS_KEY_ID: 'alias/r',
            COUNTERSIGN_QUEUE_URL: 'https://sqs.example/q.fifo',
          },
          part: 'requester',
        }),
      ),
    ).toEqual([
      'COUNTERSIGN_GATEWAY_KMS_KEY_ID: required in aws mode',
      'COUNTERSIGN_IDEMPOTENCY_TABLE: required in aws mode',
    ]);
    const requester = parseConfig({
      env: {
        COUNTERSIGN_MODE: 'aws',
        COUNTERSIGN_REQUESTER_KMS_KEY_ID: 'alias/r',
        COUNTERSIGN_GATEWAY_KMS_KEY_ID: 'alias/g',
        COUNTERSIGN_QUEUE_URL: 'https://sqs.example/q.fifo',
        COUNTERSIGN_IDEMPOTENCY_TABLE: 'cs-idempotency',
        COUNTERSIGN_REQUESTER_RECEIPTS_QUEUE_URL: 'https://sqs.example/requester-receipts',
      },
      part: 'requester',
    }).requester;
    expect(requester.idempotencyTable).toBe('cs-idempotency');
    expect(
      issues(() => parseConfig({ env: { COUNTERSIGN_MODE: 'aws' }, part: 'receipts' })),
    ).toEqual([
      'COUNTERSIGN_GATEWAY_KMS_KEY_ID: required in aws mode',
      'COUNTERSIGN_IDEMPOTENCY_TABLE: required in aws mode',
    ]);
    expect(requester.receiptsQueueUrl).toBe('https://sqs.example/requester-receipts');
  });

  it('rejects malformed JSON env values and unknown file fields', () => {
    expect(issues(() => parseConfig({ env: { COUNTERSIGN_POLICIES: '[{' } }))).toEqual([
      'COUNTERSIGN_POLICIES: must be valid JSON',
    ]);
    expect(issues(() => parseConfig({ env: {}, file: { gatway: {} } }))[0]).toMatch(/gatway/);
  });

  it('validates policies with paths into the JSON', () => {
    const lines = issues(() =>
      parseConfig({
        env: {
          COUNTERSIGN_POLICIES: JSON.stringify([
            { id: 'bot', accounts: ['a'], symbols: ['btc'], maxNotional: '1e6' },
          ]),
        },
      }),
    );
    expect(lines).toContain('COUNTERSIGN_POLICIES [0].symbols[0]: must look like "BTC-USD"');
    expect(lines.some((l) => l.startsWith('COUNTERSIGN_POLICIES [0].maxNotional:'))).toBe(true);
  });
});

describe('exchange configuration', () => {
  it('defaults to the paper exchange', () => {
    expect(parseConfig({ env: {} }).exchange).toMatchObject({
      kind: 'paper',
      name: 'exchange-sim',
      requestTimeoutMs: 2000,
      deadlineMs: 5000,
    });
  });

  it('needs a URL for http, and in aws mode a credentials location and a KMS key', () => {
    expect(
      issues(() => parseConfig({ env: { COUNTERSIGN_EXCHANGE: 'http' }, part: 'gateway' })),
    ).toEqual(['COUNTERSIGN_EXCHANGE_URL: required when COUNTERSIGN_EXCHANGE=http']);
    const aws = {
      COUNTERSIGN_MODE: 'aws',
      COUNTERSIGN_GATEWAY_KMS_KEY_ID: 'k',
      COUNTERSIGN_QUEUE_URL: 'https://sqs.example/q',
      COUNTERSIGN_NONCE_TABLE: 't',
      COUNTERSIGN_EXCHANGE: 'http',
      COUNTERSIGN_EXCHANGE_URL: 'https://api.venue.example',
    };
    expect(issues(() => parseConfig({ env: aws, part: 'gateway' }))).toEqual([
      'COUNTERSIGN_EXCHANGE_CREDENTIALS: required when COUNTERSIGN_EXCHANGE=http in aws mode',
      'COUNTERSIGN_EXCHANGE_KMS_KEY_ID: required when COUNTERSIGN_EXCHANGE=http in aws mode',
    ]);
    Object.assign(aws, { COUNTERSIGN_EXCHANGE_CREDENTIALS: 'ssm:/countersign/gw/exchange' });
    expect(
      parseConfig({ env: { ...aws, COUNTERSIGN_EXCHANGE_KMS_KEY_ID: 'alias/x' }, part: 'gateway' })
        .exchange,
    ).toMatchObject({ kind: 'http', kmsKeyId: 'alias/x' });
    // The requester does not talk to the exchange.
    expect(
      parseConfig({ env: { COUNTERSIGN_EXCHANGE: 'http' }, part: 'requester' }).exchange.kind,
    ).toBe('http');
  });

  it('reaches an exchange over TLS; plain http only on a loopback host', () => {
    const url = (u: string) => issues(() => parseConfig({ env: { COUNTERSIGN_EXCHANGE_URL: u } }));
    expect(url('http://api.venue.example')).toEqual([
      'COUNTERSIGN_EXCHANGE_URL: must be https:// (plain http:// only to a loopback host)',
    ]);
    for (const ok of [
      'https://api.venue.example',
      'http://127.0.0.1:8788',
      'http://localhost:1',
      'http://[::1]:2',
    ]) {
      expect(parseConfig({ env: { COUNTERSIGN_EXCHANGE_URL: ok } }).exchange.url).toBe(ok);
    }
  });
});
