// Errors of the audit service. Findings are data (see the report), not errors: these are for
// failures to audit at all (bad arguments, a replay that failed, an unreadable source).
import { CountersignError, type ErrorCode, type SafeDetails } from '@countersign/contracts';

export type AuditErrorCode = Extract<
  ErrorCode,
  | 'CONFIG_INVALID'
  | 'REPLAY_FAILED'
  | 'QUEUE_FAILED'
  | 'BUS_FAILED'
  | 'KEY_UNAVAILABLE'
  | 'STORE_FAILED'
  | 'STATE_INVALID'
  | 'INTERNAL'
>;

export class AuditError extends CountersignError<AuditErrorCode> {
  constructor(
    code: AuditErrorCode,
    message: string,
    options: { cause?: unknown; details?: SafeDetails } = {},
  ) {
    super(code, message, options);
    this.name = 'AuditError';
  }
}
