// The AWS checkpoint store: one S3 object per checkpoint in a bucket with versioning and Object
// Lock (compliance retention by default, infra/lib/countersign-stack.ts), written by the gateway
// role only. Keys come from contracts (`checkpointObjectKey`): the index is inverted in the key,
// so listing a stream's prefix returns its newest checkpoint first.
//
// An append is a conditional PutObject (`If-None-Match: *`): of two writers racing for one
// index, one gets 412 and re-reads. Object Lock keeps every version of every object until its
// retention ends, so even a principal allowed to write cannot make a checkpoint disappear;
// audit lists object versions and reports a key that holds more than one.
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  checkpointIndexOfKey,
  checkpointObjectKey,
  checkpointObjectPrefix,
} from '@countersign/contracts';
import { GatewayError } from './errors.ts';
import type { CheckpointStore, StoredCheckpoint } from './ports.ts';

export interface S3CheckpointStoreOptions {
  readonly client: Pick<S3Client, 'send'>;
  readonly bucket: string;
}

const PRECONDITION_FAILED = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);

function failed(what: string, cause: unknown, details: Record<string, string | number> = {}) {
  const name = (cause as { name?: unknown } | null)?.name;
  return new GatewayError('STORE_FAILED', `S3 checkpoint store: ${what} failed`, {
    cause,
    details: { ...details, error: typeof name === 'string' ? name : 'unknown' },
  });
}

export function createS3CheckpointStore(options: S3CheckpointStoreOptions): CheckpointStore {
  const { client, bucket } = options;

  async function read(key: string): Promise<string> {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body!.transformToString('utf8')).trim();
  }

  /** Common prefixes one level below `prefix` ("checkpoints/gw/" → "checkpoints/gw/0/"). */
  async function childPrefixes(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          Delimiter: '/',
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  return {
    async append(stream, checkpoint) {
      const key = checkpointObjectKey(stream, checkpoint.index);
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: checkpoint.token,
            ContentType: 'application/jose',
            IfNoneMatch: '*',
          }),
        );
        return true;
      } catch (cause) {
        const name = (cause as { name?: unknown } | null)?.name;
        if (typeof name === 'string' && PRECONDITION_FAILED.has(name)) return false;
        throw failed('PutObject', cause, { key });
      }
    },
    async recent(stream, limit) {
      try {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: checkpointObjectPrefix(stream),
            MaxKeys: limit,
          }),
        );
        const out: StoredCheckpoint[] = [];
        for (const o of page.Contents ?? []) {
          const index = o.Key ? checkpointIndexOfKey(o.Key) : undefined;
          if (index !== undefined) out.push({ index, token: await read(o.Key!) });
        }
        return out;
      } catch (cause) {
        throw failed('reading the newest checkpoints', cause, { stream });
      }
    },
    async streams() {
      try {
        const out: string[] = [];
        for (const gateway of await childPrefixes(checkpointObjectPrefix())) {
          for (const partition of await childPrefixes(gateway)) {
            out.push(partition.slice(checkpointObjectPrefix().length, -1));
          }
        }
        return out.sort();
      } catch (cause) {
        throw failed('listing streams', cause);
      }
    },
  };
}
