// Usage errors of `countersign exchange*`: a bad flag or unusable stdin is CONFIG_INVALID, exit 2.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { readCredentialsFromStdin, type SecretInput } from '../secret-input.ts';
import { simCommand, type ExchangeCommandIO } from './exchange.ts';

function pipe(text: string): SecretInput {
  const e = new EventEmitter();
  return Object.assign(e, {
    isTTY: false,
    resume: () => {
      setImmediate(() => {
        e.emit('data', Buffer.from(text));
        e.emit('end');
      });
      return e;
    },
    pause: () => e,
  });
}

describe('exchange command usage errors', () => {
  it('a flag out of range: exit 2 and one line naming it, before anything starts', async () => {
    let out = '';
    let started = false;
    const io = {
      env: {},
      stderr: { write: (t: string) => (out += t) },
      startSimulator: () => {
        started = true;
        return Promise.reject(new Error('not reached'));
      },
    } as unknown as ExchangeCommandIO;
    expect(await simCommand({ host: '127.0.0.1', port: '70000' }, io)).toBe(2);
    expect(out).toBe(
      'countersign exchange-sim: --port must be a number from 0 to 65535, got "70000"\n',
    );
    expect(started).toBe(false);
  });

  it('stdin that is not two lines, or too long, is CONFIG_INVALID (a usage error)', async () => {
    await expect(readCredentialsFromStdin(pipe('only-one-line\n'))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/exactly two lines/),
    });
    await expect(readCredentialsFromStdin(pipe('x'.repeat(9000)))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'more than 8192 bytes on stdin',
    });
  });
});
