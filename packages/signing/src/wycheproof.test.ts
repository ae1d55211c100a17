// Every ECDSA vector of Wycheproof for P-256/SHA-256 and P-384/SHA-384: convert the DER
// signature with derToJose, verify the P1363 result with node:crypto. A vector is "accepted" when
// both succeed. valid → must be accepted; invalid → must be rejected (by derToJose with
// DER_INVALID, or by the verification). "acceptable" vectors (legacy encodings some libraries
// tolerate) would be required to be rejected: we are strict DER. These files contain none,
// which the test asserts so a future update cannot slip one in silently.
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { derToJose, joseToDer } from './der.ts';

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface VectorFile {
  numberOfTests: number;
  testGroups: { publicKeyDer: string; sha: string; tests: Vector[] }[];
}

const FILES = [
  { file: 'ecdsa_secp256r1_sha256_test.json', alg: 'ES256', hash: 'sha256' },
  { file: 'ecdsa_secp384r1_sha384_test.json', alg: 'ES384', hash: 'sha384' },
] as const;

function load(file: string): VectorFile {
  const url = new URL(`../test-fixtures/wycheproof/${file}`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as VectorFile;
}

describe.each(FILES)('Wycheproof $file', ({ file, alg, hash }) => {
  const data = load(file);
  const vectors = data.testGroups.flatMap((g) => g.tests.map((t) => ({ g, t })));

  it('has every vector and no "acceptable" ones', () => {
    expect(vectors.length).toBe(data.numberOfTests);
    expect(vectors.filter(({ t }) => t.result === 'acceptable')).toEqual([]);
    expect(
      data.testGroups.every((g) => g.sha === (hash === 'sha256' ? 'SHA-256' : 'SHA-384')),
    ).toBe(true);
  });

  it('gives exactly the expected result for every vector', () => {
    const wrong: string[] = [];
    let rejectedByDer = 0;
    let rejectedByVerify = 0;
    for (const { g, t } of vectors) {
      const key = createPublicKey({
        key: Buffer.from(g.publicKeyDer, 'hex'),
        format: 'der',
        type: 'spki',
      });
      const der = Buffer.from(t.sig, 'hex');
      let accepted: boolean;
      try {
        const jose = derToJose(der, alg);
        accepted = verify(
          hash,
          Buffer.from(t.msg, 'hex'),
          { key, dsaEncoding: 'ieee-p1363' },
          jose,
        );
        if (!accepted) rejectedByVerify++;
        // A valid vector is strict DER, so converting back must give the same bytes.
        if (accepted && Buffer.compare(Buffer.from(joseToDer(jose, alg)), der) !== 0) {
          wrong.push(`tcId ${t.tcId}: DER round trip differs`);
        }
      } catch (err) {
        if ((err as { code?: string }).code !== 'DER_INVALID') throw err;
        accepted = false;
        rejectedByDer++;
      }
      if (accepted !== (t.result === 'valid')) {
        wrong.push(
          `tcId ${t.tcId} (${t.result}, ${t.comment}): ${accepted ? 'accepted' : 'rejected'}`,
        );
      }
    }
    expect(wrong).toEqual([]);
    // Both rejection paths are exercised by the vectors.
    expect(rejectedByDer).toBeGreaterThan(50);
    expect(rejectedByVerify).toBeGreaterThan(10);
  });
});
