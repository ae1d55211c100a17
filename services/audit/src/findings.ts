// Where findings go: counted by code and by stream (all of them), kept up to a cap (memory bound),
// and passed to a listener as they come.
import type { Finding, FindingCode } from '@countersign/contracts';
import type { FindingListener } from './ports.ts';

export class FindingSink {
  readonly kept: Finding[] = [];
  readonly byCode: Partial<Record<FindingCode, number>> = {};
  private readonly byStream = new Map<string, number>();
  total = 0;

  constructor(
    private readonly maxKept: number,
    private readonly listener?: FindingListener,
  ) {}

  report(finding: Finding): void {
    this.total++;
    this.byCode[finding.code] = (this.byCode[finding.code] ?? 0) + 1;
    if (this.kept.length < this.maxKept) this.kept.push(finding);
    if (finding.stream) this.byStream.set(finding.stream, this.inStream(finding.stream) + 1);
    this.listener?.(finding);
  }

  inStream(stream: string): number {
    return this.byStream.get(stream) ?? 0;
  }
}

/** A finding's fields apart from where it was found. */
export type FindingBody = Omit<Finding, 'stream' | 'seq' | 'jti'>;
