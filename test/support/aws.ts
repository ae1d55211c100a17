// Clients for integration tests, pointed at the moto server the global setup started.
import { randomBytes } from 'node:crypto';

export interface AwsTestEnv {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
}

export function awsTestEnv(): AwsTestEnv {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    throw new Error(
      "AWS_ENDPOINT_URL is not set: integration tests must run through vitest's integration project (npm test), which starts moto.",
    );
  }
  return {
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

/** SDK client config for moto. */
export function clientConfig(): {
  endpoint: string;
  region: string;
  credentials: AwsTestEnv['credentials'];
} {
  const env = awsTestEnv();
  return { endpoint: env.endpoint, region: env.region, credentials: env.credentials };
}

/** A name unique to this run, so tests sharing one emulator never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
