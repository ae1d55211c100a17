import { z } from 'zod';

/** Requester, account and gateway ids. */
export const IDENTIFIER = /^[A-Za-z0-9._:-]{1,64}$/;
/** A receipt stream, `<gatewayId>/<partition>` (protocol.ts builds and reads them). */
export const STREAM = /^[A-Za-z0-9._:-]{1,64}\/[0-9]{1,4}$/;
/** 22 base64url characters (our ids: 48-bit time then 84 random bits; see jti.ts). */
export const JTI = /^[A-Za-z0-9_-]{22}$/;
/** A SHA-256 digest, base64url without padding. */
export const SHA256_B64U = /^[A-Za-z0-9_-]{43}$/;

export const Identifier = z
  .string({ error: (iss) => (iss.input === undefined ? 'required' : 'must be a string') })
  .regex(IDENTIFIER, 'must match [A-Za-z0-9._:-]{1,64}');
export const Jti = z.string().regex(JTI, 'must be 22 base64url characters');
export const Sha256 = z
  .string()
  .regex(SHA256_B64U, 'must be a base64url SHA-256 digest (43 characters)');

/** Genesis value of `prev` in a receipt stream. */
export const GENESIS_PREV = 'A'.repeat(43);
