// In-memory fakes of the ports, for unit tests only (the fault tests also run on the real
// SQLite and DynamoDB/SQS/EventBridge adapters). They follow the port contracts closely.
import {
  CountersignError,
  GENESIS_PREV,
  type Clock,
  type ReceiptEventDetail,
} from '@countersign/contracts';
import type { ChainHead, ClaimResult, NonceRecord, NonceStore } from '@countersign/replay-guard';
import type { EventBus } from '@countersign/transport';

export interface FakeClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

export function fakeClock(start = Date.UTC(2026, 10, 25, 12, 0, 0)): FakeClock {
  let t = start;
  return {
    now: () => t,
    set: (ms) => void (t = ms),
    advance: (ms) => void (t += ms),
    // Moves the time on by `ms` and resolves on a later turn: a wait costs no real time.
    sleep: (ms) =>
      new Promise((resolve) =>
        setImmediate(() => {
          t += Math.max(0, ms);
          resolve();
        }),
      ),
  };
}

export interface FakeNonceStore extends NonceStore {
  readonly records: Map<string, NonceRecord>;
  readonly heads: Map<string, ChainHead>;
}

export function fakeNonceStore(): FakeNonceStore {
  const records = new Map<string, NonceRecord>();
  const heads = new Map<string, ChainHead>();
  const head = (stream: string): ChainHead =>
    heads.get(stream) ?? { stream, seq: 0, hash: GENESIS_PREV };
  return {
    records,
    heads,
    claim(key, { expiresAt, leaseMs, owner, now, requestSha256 }): Promise<ClaimResult> {
      const existing = records.get(key);
      if (!existing || existing.expiresAt < now) {
        records.set(key, {
          key,
          state: 'IN_PROGRESS',
          owner,
          leaseUntil: now + leaseMs,
          expiresAt,
          attempts: 1,
          claimedAt: now,
          ...(requestSha256 === undefined ? {} : { requestSha256 }),
        });
        return Promise.resolve({ claimed: true, takeover: false });
      }
      if (existing.state === 'IN_PROGRESS' && existing.leaseUntil <= now) {
        const sha = existing.requestSha256 ?? requestSha256;
        records.set(key, {
          key,
          state: 'IN_PROGRESS',
          owner,
          leaseUntil: now + leaseMs,
          expiresAt: Math.max(expiresAt, existing.expiresAt),
          attempts: existing.attempts + 1,
          ...(sha === undefined ? {} : { requestSha256: sha }),
          ...(existing.claimedAt === undefined ? {} : { claimedAt: existing.claimedAt }),
        });
        return Promise.resolve({ claimed: true, takeover: true, previous: existing });
      }
      return Promise.resolve({ claimed: false, existing });
    },
    complete(key, { owner, stored, head: next, prev, expiresAt }) {
      const current = head(next.stream);
      if (current.seq !== next.seq - 1 || current.hash !== prev) {
        return Promise.reject(
          new CountersignError('CHAIN_CONFLICT', `head of ${next.stream} is at ${current.seq}`),
        );
      }
      const record = records.get(key);
      if (record && !(record.state === 'IN_PROGRESS' && record.owner === owner)) {
        return Promise.reject(
          new CountersignError('NONCE_CONFLICT', `${key} is not in progress for this owner`),
        );
      }
      const sha = record?.requestSha256;
      records.set(key, {
        key,
        state: 'COMPLETED',
        expiresAt: Math.max(expiresAt, record?.expiresAt ?? 0),
        stored,
        ...(sha === undefined ? {} : { requestSha256: sha }),
        ...(record?.claimedAt === undefined ? {} : { claimedAt: record.claimedAt }),
      });
      heads.set(next.stream, next);
      return Promise.resolve();
    },
    get: (key) => Promise.resolve(records.get(key)),
    head: (stream) => Promise.resolve(head(stream)),
  };
}

export interface FakeBus extends EventBus {
  readonly events: ReceiptEventDetail[];
}

export function fakeBus(): FakeBus {
  const events: ReceiptEventDetail[] = [];
  return {
    events,
    publish(batch) {
      events.push(...batch);
      return Promise.resolve();
    },
  };
}
