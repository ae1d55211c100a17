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
export interface VerifiedReceipt {
  readonly claims: ReceiptClaims;
  /** A batch item's: the last seq its verified head commits to (a signed checkpoint too). */
  readonly batchSeq?: number;
}

export interface TokenVerifiers {
  /** typ txn-receipt+jwt (or a batch item of one), issuer among the trusted gateways. */
  receipt(token: string): Promise<VerifiedReceipt>;
  /** typ txn+jwt, requester keys, `aud` = audience, time checks as of `at` (epoch ms). */
  request(
    token: string,
    options: { readonly audience: string; readonly at: number },
  ): Promise<RequestClaims>;
  /** typ txn-checkpoint+jwt, gateway keys. */
  checkpoint(token: string): Promise<CheckpointClaims>;
}

/** One stored checkpoint as a source read it (unverified: the auditor verifies it). */
export interface CheckpointEntry {
  readonly token: string;
  /**
   * `primary`: the gateway's store (embedded log, S3 bucket). `mirror`: the second copy; a
   * checkpoint the mirror has and the primary lost is a finding (the mirror is written after).
   */
  readonly origin?: 'primary' | 'mirror';
  /** S3: the object key holds more than one version (something wrote over a checkpoint). */
  readonly overwritten?: boolean;
  /** S3: the key's newest version is a delete marker (something tried to remove it). */
  readonly deleted?: boolean;
  /** The index the store files it under (log row, object key): must be the signed one. */
  readonly storedAs?: number;
}

/** Signed checkpoints of the gateways (embedded: the log and its mirror; AWS: S3). */
export interface CheckpointSource {
  /** Every checkpoint of every stream, in any order. */
  list(): Promise<readonly CheckpointEntry[]>;
}

/** Where a stream's audited chain resumes: the last seq already audited and its hash. */
export interface StreamStart {
  readonly seq: number;
  /** base64url SHA-256 (or its 128-bit prefix) of the receipt token at `seq`. */
  readonly head: string;
}

/** What a previous audit verified of a stream: its last receipt and its newest checkpoint. */
export interface RememberedStream extends StreamStart {
  /**
   * Where a previous full audit proved the stream from: the first receipt's seq, hash and iat
   * (epoch s). A full replay must prove from there again unless the archive's declared
   * retention has passed it.
   */
  readonly genesis?: StreamStart & { readonly iat: number };
  readonly checkpoint?: {
    readonly index: number;
    /** base64url SHA-256 of the checkpoint token. */
    readonly hash: string;
  };
}

export type FindingListener = (finding: Finding) => void;
