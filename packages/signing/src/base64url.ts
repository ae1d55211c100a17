// base64url without padding (RFC 7515 §2).
export function b64u(bytes: Uint8Array | string): string {
  return (
    typeof bytes === 'string'
      ? Buffer.from(bytes, 'utf8')
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  ).toString('base64url');
}
