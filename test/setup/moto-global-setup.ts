// vitest global setup for the integration project: one moto server for the whole run.
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startMoto } from './moto-server.ts';

const root = resolve(fileURLToPath(import.meta.url), '../../..');

export default async function setup(_project: TestProject): Promise<() => Promise<void>> {
  const moto = await startMoto(root);
  // Children (tests in forks) inherit these: the SDK honours AWS_ENDPOINT_URL.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  const onSignal = () => {
    void moto.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await moto.stop();
  };
}
