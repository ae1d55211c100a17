// The signed HTTP client against a loopback server that misbehaves: an answer larger than
// maxBodyBytes ends the attempt like a reset (PAYLOAD_TOO_LARGE), and giving up is UNKNOWN.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '@countersign/contracts';
import { ExchangeCredentials } from './credentials/exchange-credentials.ts';
import { createSignedClient } from './http-exchange-client.ts';
import { silentLogger } from './ports.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

describe('createSignedClient', () => {
  it('an answer over maxBodyBytes is cut off (PAYLOAD_TOO_LARGE), retried, then UNKNOWN', async () => {
    let requests = 0;
    server = createServer((_req, res) => {
      requests += 1;
      // No content-length: the client counts the chunks as they come.
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 20; i++) res.write('x'.repeat(100));
      res.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const retried: unknown[] = [];
    const client = createSignedClient({
      url: `http://127.0.0.1:${port}`,
      credentials: ExchangeCredentials.fromBytes(Buffer.from('key-1'), Buffer.from('s'.repeat(24))),
      clock: systemClock,
      requestTimeoutMs: 2000,
      deadlineMs: 5000,
      recvWindowMs: 5000,
      connections: 1,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      maxBodyBytes: 500,
      logger: { ...silentLogger, debug: (obj) => void retried.push(obj) },
    });
    try {
      const err = await client.call({ op: 'get', method: 'GET', path: '/v1/order' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'EXCHANGE_TIMEOUT' });
      expect(requests).toBe(2);
      expect(retried).toEqual([
        expect.objectContaining({ attempt: 1, ended: 'PAYLOAD_TOO_LARGE' }),
      ]);
    } finally {
      await client.close();
    }
  });
});
