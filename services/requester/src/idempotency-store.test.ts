import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_TTL_MS,
  createMemoryIdempotencyStore,
  type IdempotencyStore,
} from './idempotency-store.ts';
import { createSqliteIdempotencyStore } from './sqlite-idempotency-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'idem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const adapters: [string, (clock: { now(): number }) => IdempotencyStore][] = [
  ['memory', (clock) => createMemoryIdempotencyStore({ clock })],
  [
    'sqlite',
    (clock) =>
      createSqliteIdempotencyStore({
        clock,
        path: join(dir, `${Math.random().toString(36).slice(2)}.sqlite`),
      }),
  ],
];

describe.each(adapters)('%s idempotency store', (_name, make) => {
  const response = { status: 202, body: { jti: 'j', messageId: 'm' } };

  it('reserves, replays the same body, and conflicts on another body', async () => {
    let now = 1_000_000;
    const s = make({ now: () => now });
    expect(await s.begin('key-a', 'k1', 'h1')).toEqual({ state: 'new' });
    expect(await s.begin('key-a', 'k1', 'h1')).toEqual({ state: 'in_progress' });
    expect(await s.begin('key-a', 'k1', 'h2')).toEqual({ state: 'conflict' });
    await s.complete('key-a', 'k1', response);
    now += IDEMPOTENCY_TTL_MS - 1;
    expect(await s.begin('key-a', 'k1', 'h1')).toEqual({ state: 'replay', response });
    expect(await s.begin('key-a', 'k1', 'h2')).toEqual({ state: 'conflict' });
    await s.close?.();
  });

  it('scopes keys per API key and forgets them after 24 h', async () => {
    let now = 5_000;
    const s = make({ now: () => now });
    expect(await s.begin('key-a', 'k1', 'h1')).toEqual({ state: 'new' });
    await s.complete('key-a', 'k1', response);
    expect(await s.begin('key-b', 'k1', 'h2')).toEqual({ state: 'new' });
    now += IDEMPOTENCY_TTL_MS;
    expect(await s.begin('key-a', 'k1', 'h2')).toEqual({ state: 'new' });
    await s.close?.();
  });

  it('release lets a retry go ahead; an abandoned reservation is taken over after the lease', async () => {
    let now = 0;
    const s = make({ now: () => now });
    await s.begin('s', 'k', 'h');
    await s.release('s', 'k');
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'new' });
    now += IDEMPOTENCY_LEASE_MS - 1;
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'in_progress' });
    now += 1;
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'new' });
    // release never drops a completed record
    await s.complete('s', 'k', response);
    await s.release('s', 'k');
    expect(await s.begin('s', 'k', 'h')).toEqual({ state: 'replay', response });
    await s.close?.();
  });
});

describe('sqlite idempotency store', () => {
  it('survives a reopen of the file', async () => {
    const path = join(dir, 'reopen.sqlite');
    const clock = { now: () => 42 };
    const a = createSqliteIdempotencyStore({ clock, path });
    await a.begin('s', 'k', 'h');
    await a.complete('s', 'k', { status: 207, body: { items: [1] } });
    await a.close?.();
    const b = createSqliteIdempotencyStore({ clock, path });
    expect(await b.begin('s', 'k', 'h')).toEqual({
      state: 'replay',
      response: { status: 207, body: { items: [1] } },
    });
    await b.close?.();
  });
});
