// Ports of the audit core. The auditor trusts nothing but keys: it gets tokens, and verification
// functions built from the trusted gateway and requester keys (see verifiers.ts).
import type {
  CheckpointClaims,
  Finding,
  ReceiptClaims,
  RequestClaims,
} from '@countersign/contracts';

/**
 * Verifies tokens. Each function throws an error carrying a string `code` (the verifier's
 * VerificationError codes) when the token fails; audit turns those into findings.
 */
export interface TokenVerifiers {
  /** typ txn-receipt+jwt, issuer among the trusted gateways. */
  receipt(token: string): Promise<ReceiptClaims>;
  /** typ txn+jwt, requester keys, `aud` = audience, time checks as of `at` (epoch ms). */
  request(
    token: string,
    options: { readonly audience: string; readonly at: number },
  ): Promise<RequestClaims>;
  /** typ txn-checkpoint+jwt, gateway keys. */
  checkpoint(token: string): Promise<CheckpointClaims>;
}

/** Signed checkpoints of the gateways (embedded: files; AWS: an object store). */
export interface CheckpointSource {
  /** The latest checkpoint token of each stream (unverified: the auditor verifies them). */
  list(): Promise<readonly { readonly stream: string; readonly token: string }[]>;
}

/** Where a stream's audited chain resumes: the last seq already audited and its hash. */
export interface StreamStart {
  readonly seq: number;
  /** base64url SHA-256 (or its 128-bit prefix) of the receipt token at `seq`. */
  readonly head: string;
}

export type FindingListener = (finding: Finding) => void;
