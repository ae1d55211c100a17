import { describe, expect, it } from 'vitest';
import { createEmfMetrics } from './emf-metrics.ts';
import { instrumentSigner } from './instrument.ts';
import { startMetricsServer, startProcessMetrics } from './metrics-server.ts';
import { createPromMetrics } from './prom-metrics.ts';

/** Sample lines of a Prometheus text exposition: `name{labels} value`, comments skipped. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('Prometheus metrics', () => {
  it('exposes the counters and histograms it was given, as parseable text', async () => {
    const m = createPromMetrics({ processMetrics: false });
    m.count('receipts_total', { outcome: 'REJECTED', reason: 'EXPIRED' });
    m.count('receipts_total', { outcome: 'REJECTED', reason: 'EXPIRED' });
    m.count('receipts_total', { outcome: 'EXECUTED', reason: 'NONE' }, 3);
    m.observe('queue_age_seconds', {}, 0.2);
    const s = samples(await m.text());
    expect(s.get('countersign_receipts_total{outcome="REJECTED",reason="EXPIRED"}')).toBe(2);
    expect(s.get('countersign_receipts_total{outcome="EXECUTED",reason="NONE"}')).toBe(3);
    expect(s.get('countersign_queue_age_seconds_count')).toBe(1);
    expect(s.get('countersign_queue_age_seconds_bucket{le="0.5"}')).toBe(1);
    expect(s.get('countersign_queue_age_seconds_bucket{le="0.1"}')).toBe(0);

    const snap = await m.snapshot();
    expect(snap.receipts_total).toContainEqual({
      labels: { outcome: 'REJECTED', reason: 'EXPIRED' },
      value: 2,
    });
    expect(snap.queue_age_seconds?.[0]).toMatchObject({ value: 1, sum: 0.2 });
  });

  it('serves GET /metrics on loopback and 404 elsewhere', async () => {
    const m = createPromMetrics({ defaultLabels: { service: 'gateway' } });
    m.count('chain_conflicts_total', {});
    const server = await startMetricsServer(m, { port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(server.url);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const s = samples(await res.text());
      expect(s.get('countersign_chain_conflicts_total{service="gateway"}')).toBe(1);
      expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('a process serves its service-labelled registry only when a port is configured', async () => {
    const off = await startProcessMetrics({ metricsHost: '127.0.0.1' }, 'audit');
    expect(off.server).toBeUndefined();
    const on = await startProcessMetrics({ metricsHost: '127.0.0.1', metricsPort: 0 }, 'audit');
    try {
      on.metrics.count('audit_receipts_total', {}, 2);
      const s = samples(await (await fetch(on.server!.url)).text());
      expect(s.get('countersign_audit_receipts_total{service="audit"}')).toBe(2);
    } finally {
      await on.server?.close();
    }
  });
});

describe('EMF metrics', () => {
  it('writes one document per label set with a total and a split dimension set', () => {
    const lines: string[] = [];
    const m = createEmfMetrics({
      service: 'audit',
      clock: { now: () => 1_000 },
      write: (l) => lines.push(l),
    });
    m.count('audit_findings_total', { code: 'CHAIN_GAP' });
    m.count('audit_findings_total', { code: 'CHAIN_GAP' });
    m.observe('sign_seconds', { role: 'gateway' }, 0.02);
    m.flush();
    expect(lines).toHaveLength(2);
    const finding = JSON.parse(lines[0]!);
    expect(finding).toMatchObject({
      service: 'audit',
      code: 'CHAIN_GAP',
      audit_findings_total: 2,
      _aws: {
        Timestamp: 1_000,
        CloudWatchMetrics: [
          {
            Namespace: 'Countersign',
            Dimensions: [['service'], ['service', 'code']],
            Metrics: [{ Name: 'audit_findings_total', Unit: 'Count' }],
          },
        ],
      },
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ sign_seconds: [0.02], role: 'gateway' });
    m.flush();
    expect(lines).toHaveLength(2); // nothing recorded since
  });
});

describe('instrumentSigner', () => {
  it('counts ok, throttled and failed signatures and keeps the signer surface', async () => {
    const m = createPromMetrics({ processMetrics: false });
    let fail: Error | undefined;
    const signer = {
      alg: 'ES256',
      kid: 'k1',
      sign: (_input: Uint8Array) =>
        fail ? Promise.reject(fail) : Promise.resolve(new Uint8Array([1])),
    };
    const s = instrumentSigner(signer, { metrics: m, role: 'requester' });
    expect(s.kid).toBe('k1');
    await s.sign(new Uint8Array());
    fail = Object.assign(new Error('x'), { cause: { name: 'ThrottlingException' } });
    await expect(s.sign(new Uint8Array())).rejects.toBe(fail);
    fail = new Error('boom');
    await expect(s.sign(new Uint8Array())).rejects.toBe(fail);
    const t = samples(await m.text());
    expect(t.get('countersign_signatures_total{role="requester",result="ok"}')).toBe(1);
    expect(t.get('countersign_signatures_total{role="requester",result="throttled"}')).toBe(1);
    expect(t.get('countersign_signatures_total{role="requester",result="error"}')).toBe(1);
    expect(t.get('countersign_sign_seconds_count{role="requester"}')).toBe(3);
  });
});
