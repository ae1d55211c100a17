// Child process of requester-aws.test.ts: the AWS-mode requester as its configuration builds it
// (KMS signer, SQS FIFO queue, DynamoDB idempotency records; COUNTERSIGN_* and AWS_ENDPOINT_URL
// from the environment, pointing at moto), serving one POST with an Idempotency-Key. It is killed
// (SIGKILL, no cleanup) right after its messages are on SQS, before the answer is recorded: the
// crash of a Lambda container between enqueue and `complete`. Clock frozen at <nowMs>.
// Reads { apiKey, path, body, key } on stdin.
import { pino } from 'pino';
import { loadConfig } from '@countersign/contracts';
import {
  createIdempotencyStoreFromConfig,
  createRequesterServiceFromConfig,
  type IdempotencyStore,
} from '@countersign/requester';
import { postWithKey } from './requester-fixtures.ts';

const [nowMs] = process.argv.slice(2);
const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
  apiKey: string;
  path: string;
  body: unknown;
  key: string;
};

const clock = { now: () => Number(nowMs) };
const config = loadConfig(process.env, 'requester');
const records = createIdempotencyStoreFromConfig(config, { clock });
const idempotency: IdempotencyStore = {
  ...records,
  complete: () => {
    process.kill(process.pid, 'SIGKILL');
    return new Promise<never>(() => undefined);
  },
};
const service = await createRequesterServiceFromConfig(config, {
  clock,
  idempotency,
  logger: pino({ level: 'silent' }),
});
const res = await postWithKey(service.app, input);
// Not reached when the crash point was hit.
process.stdout.write(`survived: ${res.status}\n`);
