// Findings for tokens that fail verification. Their claims are unverified, so they are read with
// `decodeUnverified` and used only to say where the bad token claims to belong (attribution),
// never to decide anything.
import type { Finding } from '@countersign/contracts';
import { decodeUnverified } from '@countersign/verifier';
import { errorCode, errorMessage } from './request-check.ts';

/** Reads stream/seq/jti of an unverified token, for attributing a signature finding only. */
export function peekUnverified(token: string): {
  stream: string | null;
  seq: number | null;
  jti: string | null;
} {
  const unverified = decodeUnverified(token);
  return {
    stream: typeof unverified?.stream === 'string' ? unverified.stream.slice(0, 80) : null,
    seq: Number.isSafeInteger(unverified?.seq) ? (unverified!.seq as number) : null,
    jti: typeof unverified?.jti === 'string' ? unverified.jti.slice(0, 64) : null,
  };
}

const RECEIPT_SIGNATURE_CODES = new Set([
  'TOKEN_TOO_LARGE',
  'MALFORMED',
  'UNSUPPORTED_HEADER',
  'ALG_NOT_ALLOWED',
  'UNKNOWN_KID',
  'BAD_SIGNATURE',
  // A batch item whose proof does not reach its signed head: its claims are not what was signed.
  'BATCH_LEAF_NONCANONICAL',
  'BATCH_INDEX_OUT_OF_RANGE',
  'BATCH_PROOF_LENGTH',
  'BATCH_ROOT_MISMATCH',
]);

/** The finding for a receipt the verifier refused, by the verifier's code. */
function receiptFindingCode(verifierCode: string): Finding['code'] {
  if (RECEIPT_SIGNATURE_CODES.has(verifierCode)) return 'BAD_RECEIPT_SIGNATURE';
  if (verifierCode === 'ISSUER_NOT_TRUSTED') return 'UNTRUSTED_GATEWAY';
  // Signed by a gateway key after its retirement in the key history (issue 18).
  if (verifierCode === 'KEY_RETIRED') return 'RECEIPT_KEY_RETIRED';
  return 'RECEIPT_INVALID';
}

/** BAD_RECEIPT_SIGNATURE, UNTRUSTED_GATEWAY, RECEIPT_KEY_RETIRED or RECEIPT_INVALID. */
export function receiptFailure(receipt: string, err: unknown): Finding {
  const code = errorCode(err);
  return {
    code: receiptFindingCode(code),
    ...peekUnverified(receipt),
    message: `receipt fails verification (claims shown unverified): ${errorMessage(err)}`,
    verifierCode: code,
  };
}

export function checkpointFailure(token: string, err: unknown): Finding {
  const at = peekUnverified(token);
  return {
    code: 'CHECKPOINT_INVALID',
    stream: at.stream,
    seq: at.seq,
    jti: null,
    message: `checkpoint fails verification: ${errorMessage(err)}`,
    verifierCode: errorCode(err),
  };
}
