// Reads exchange API credentials as raw bytes, never from argv (which other users of the
// machine can read in /proc) and never as JS strings: from stdin (two lines: key, then secret),
// or, on a terminal, from a prompt that does not echo. The caller wipes the buffers.
import { CountersignError } from '@countersign/contracts';

export interface SecretInput {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'error', listener: (arg?: unknown) => void): unknown;
  removeAllListeners(event: string): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface RawCredentials {
  readonly apiKey: Buffer;
  readonly secret: Buffer;
}

const MAX_INPUT_BYTES = 8192;

/** Unusable input on stdin: a usage error (exit 2), like a bad flag. */
export class SecretInputError extends CountersignError<'CONFIG_INVALID'> {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'SecretInputError';
  }
}

/** Everything on stdin (bounded), as one buffer. */
function readAll(input: SecretInput): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(MAX_INPUT_BYTES);
    let size = 0;
    input.on('data', (chunk: Buffer) => {
      if (size + chunk.length > MAX_INPUT_BYTES) {
        buf.fill(0);
        chunk.fill(0);
        input.removeAllListeners('data');
        reject(new SecretInputError(`more than ${MAX_INPUT_BYTES} bytes on stdin`));
        return;
      }
      chunk.copy(buf, size);
      size += chunk.length;
      chunk.fill(0);
    });
    input.on('end', () => resolve(buf.subarray(0, size)));
    input.on('error', (err) =>
      reject(err instanceof Error ? err : new SecretInputError('cannot read stdin')),
    );
    input.resume();
  });
}

/** Non-empty lines of `bytes` (LF or CRLF), as views into it. */
function lines(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i += 1) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      let end = i;
      if (end > start && bytes[end - 1] === 0x0d) end -= 1;
      if (end > start) out.push(bytes.subarray(start, end));
      start = i + 1;
    }
  }
  return out;
}

/** From a pipe or file: the first line is the API key, the second the secret. */
export async function readCredentialsFromStdin(input: SecretInput): Promise<RawCredentials> {
  const all = await readAll(input);
  const [key, secret, ...rest] = lines(all);
  if (!key || !secret || rest.length > 0) {
    all.fill(0);
    throw new SecretInputError(
      'expected exactly two lines on stdin: the API key, then the API secret',
    );
  }
  // Copies, so the caller can wipe each; the shared buffer is wiped now.
  const out = { apiKey: Buffer.from(key), secret: Buffer.from(secret) };
  all.fill(0);
  return out;
}

/** One line from a terminal in raw mode, without echo (Backspace edits, Ctrl-C cancels). */
function promptHidden(
  input: SecretInput,
  output: { write(text: string): unknown },
  label: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.alloc(1024);
    let size = 0;
    const finish = (err?: Error) => {
      input.removeAllListeners('data');
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (err) {
        buf.fill(0);
        reject(err);
      } else {
        const line = Buffer.from(buf.subarray(0, size));
        buf.fill(0);
        resolve(line);
      }
    };
    output.write(label);
    input.setRawMode?.(true);
    input.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === 0x03) return finish(new SecretInputError('cancelled'));
        if (byte === 0x0d || byte === 0x0a) return finish();
        if (byte === 0x7f || byte === 0x08) size = Math.max(0, size - 1);
        else if (size < buf.length) buf[size++] = byte;
        else return finish(new SecretInputError('input longer than 1024 bytes'));
      }
      chunk.fill(0);
    });
    input.resume();
  });
}

export async function readCredentials(
  input: SecretInput,
  prompt: { write(text: string): unknown },
): Promise<RawCredentials> {
  if (!input.isTTY) return readCredentialsFromStdin(input);
  const apiKey = await promptHidden(input, prompt, 'Exchange API key: ');
  const secret = await promptHidden(input, prompt, 'Exchange API secret: ');
  return { apiKey, secret };
}
