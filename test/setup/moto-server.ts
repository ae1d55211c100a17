// Starts and stops a moto server on a free loopback port. Used by the integration global setup
// and by tools that need an emulator outside vitest.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export function motoBinary(root: string): string {
  return join(root, '.venv', 'bin', 'moto_server');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error('moto_server exited before it answered; see its output above');
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms`);
}

export async function startMoto(root: string): Promise<MotoServer> {
  const bin = motoBinary(root);
  if (!existsSync(bin)) {
    throw new Error(
      `The AWS emulator is missing (${bin}). Run "npm test" (it installs moto[server] into .venv with python3), ` +
        'or "bash scripts/moto-venv.sh". It needs python3 with the venv module and access to PyPI.',
    );
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    if (stderr.length < 20_000) stderr += b.toString();
  });
  const kill = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  // No orphan emulator when the runner dies or is interrupted.
  process.once('exit', kill);
  try {
    await waitUntilAnswering(endpoint, child, 30_000);
  } catch (err) {
    kill();
    throw new Error(`${(err as Error).message}\n${stderr.slice(-2000)}`, { cause: err });
  }
  return {
    endpoint,
    port,
    stop: async () => {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(kill, 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
