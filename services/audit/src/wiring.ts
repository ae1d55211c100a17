// Composition from configuration: which keys, which bus or queue, which checkpoints. Embedded
// mode reads local JWKS files and the SQLite bus; AWS mode uses KMS public keys, the SQS audit
// queue and the EventBridge archive. Clients and adapters can be injected (tests, custom config).
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  ConfigError,
  EmbeddedKeyNames,
  embeddedPaths,
  policyVersion,
  systemClock,
  type AuditReport,
  type AuditSource,
  type Clock,
  type CountersignConfig,
  type FieldIssue,
  type RequesterPolicy,
} from '@countersign/contracts';
import {
  createSqliteEventBus,
  createSqsQueue,
  type EventArchive,
  type Queue,
} from '@countersign/transport';
import { combineKeys, jwksFile, kmsPublicKeys, policyKeys } from '@countersign/verifier';
import { readJwksFile } from '@countersign/signing';
import { createAuditor, type Auditor, type AuditorOptions } from './auditor.ts';
import { AuditError } from './errors.ts';
import { directoryCheckpoints } from './checkpoint-directory.ts';
import type { CheckpointSource, FindingListener, TokenVerifiers } from './ports.ts';
import {
  replayEmbeddedArchive,
  replayEventBridgeArchive,
  runEmbeddedLive,
  runSqsLive,
  type AuditStateStore,
  type ProgressListener,
} from './sources.ts';
import { jsonFileAuditState } from './state-file.ts';
import { createAuditVerifiers } from './verifiers.ts';
import { reconcileExchange } from './reconcile-reader.ts';
import type { ExchangeOrderSource, InProgressSource } from './reconcile.ts';

export interface AuditOverrides {
  readonly clock?: Clock;
  readonly verifiers?: TokenVerifiers;
  readonly checkpoints?: CheckpointSource;
  readonly archive?: EventArchive & { close?(): Promise<void> };
  readonly queue?: Queue;
  readonly state?: AuditStateStore;
  readonly eventBridge?: Pick<EventBridgeClient, 'send'>;
  readonly sqs?: SQSClient;
  readonly kms?: Pick<KMSClient, 'send'>;
  /** AWS replay: stop after this many events (default: when the replay is done and quiet). */
  readonly expectedReplayEvents?: number;
  readonly replayQuietMs?: number;
  /** Policies by version; default: the configured `gateway.policies`. EXECUTED receipts are re-checked against them. */
  readonly policies?: ReadonlyMap<string, RequesterPolicy>;
}

export interface ReplayRequest {
  /** Epoch ms, inclusive. */
  readonly from: number;
  /** Epoch ms, exclusive. */
  readonly to: number;
  readonly gateway?: string;
  readonly onFinding?: FindingListener;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

export interface LiveRequest {
  readonly signal: AbortSignal;
  readonly onFinding?: FindingListener;
}

export interface ReconcileRequest {
  /** Epoch ms, inclusive (orders placed, receipts issued). */
  readonly from: number;
  /** Epoch ms, exclusive. */
  readonly to: number;
  /** The exchange's record (the caller opens it: the gateway's PaperExchange in embedded mode). */
  readonly exchange: ExchangeOrderSource;
  /** The nonce store's IN_PROGRESS records (replay-guard's openSqliteNonceReader). */
  readonly nonces?: InProgressSource;
  readonly onFinding?: FindingListener;
  readonly signal?: AbortSignal;
}

export interface AuditRuntime {
  readonly mode: CountersignConfig['mode'];
  readonly failOnFindings: boolean;
  /** Replays [from, to) of the archive (embedded SQLite or EventBridge) and reports. */
  replay(request: ReplayRequest): Promise<AuditReport>;
  /** Audits live traffic until the signal aborts, then reports. */
  live(request: LiveRequest): Promise<AuditReport>;
  /** Reconciles the exchange's orders of [from, to) with the receipts (embedded mode). */
  reconcile(request: ReconcileRequest): Promise<AuditReport>;
  /** Loads the trusted keys once; throws KEY_UNAVAILABLE when they cannot be loaded. */
  preflight(): Promise<void>;
  /** An auditor with this runtime's keys (e.g. for the Lambda handler). */
  createAuditor(options?: Partial<AuditorOptions>): Auditor;
  close(): Promise<void>;
}

function requireField(value: string | undefined, path: string, why: string): string {
  if (value) return value;
  const issues: FieldIssue[] = [{ path, message: why }];
  throw new ConfigError(issues);
}

export function createAuditFromConfig(
  config: CountersignConfig,
  overrides: AuditOverrides = {},
): AuditRuntime {
  const clock = overrides.clock ?? systemClock;
  const paths = embeddedPaths(config.dataDir);
  const gatewayId = config.gateway.id;
  const requesterIds = [config.requester.id, ...config.gateway.policies.map((p) => p.id)];
  const aws = config.mode === 'aws';

  let kms = overrides.kms;
  const verifiers =
    overrides.verifiers ??
    (() => {
      if (aws) {
        kms ??= new KMSClient({});
        const gatewayKey = requireField(
          config.gateway.kmsKeyId,
          'COUNTERSIGN_GATEWAY_KMS_KEY_ID',
          'required by audit in aws mode (receipts are verified with its public key)',
        );
        return createAuditVerifiers({
          gatewayKeys: kmsPublicKeys({ client: kms, keyIds: [gatewayKey], issuer: gatewayId }),
          requesterKeys: combineKeys(
            ...(config.requester.kmsKeyId
              ? [
                  kmsPublicKeys({
                    client: kms,
                    keyIds: [config.requester.kmsKeyId],
                    issuer: config.requester.id,
                  }),
                ]
              : []),
            ...policyKeys(config.gateway.policies, { clock }),
          ),
          gateways: [gatewayId],
          requesters: requesterIds,
          clockSkewSec: config.gateway.clockSkewSec,
          clock,
        });
      }
      return createAuditVerifiers({
        gatewayKeys: jwksFile(join(paths.keysDir, `${EmbeddedKeyNames.GATEWAY}.jwks.json`), {
          issuer: gatewayId,
          clock,
        }),
        requesterKeys: combineKeys(
          jwksFile(join(paths.keysDir, `${EmbeddedKeyNames.REQUESTER}.jwks.json`), {
            issuer: config.requester.id,
            clock,
          }),
          ...policyKeys(config.gateway.policies, { clock }),
        ),
        gateways: [gatewayId],
        requesters: requesterIds,
        clockSkewSec: config.gateway.clockSkewSec,
        clock,
      });
    })();

  // The embedded gateway writes checkpoints to files; in AWS they live in an object store the
  // caller injects (no S3 adapter yet: without one, only gaps inside the chain are detected).
  const checkpoints: CheckpointSource =
    overrides.checkpoints ??
    (aws ? { list: () => Promise.resolve([]) } : directoryCheckpoints(paths.checkpointsDir));

  let archive = overrides.archive;
  const embeddedArchive = () => (archive ??= createSqliteEventBus({ path: paths.busDb, clock }));
  let sqs = overrides.sqs;
  let queue = overrides.queue;
  const auditQueue = (): Queue => {
    if (queue) return queue;
    const queueUrl = requireField(
      config.audit.queueUrl,
      'COUNTERSIGN_AUDIT_QUEUE_URL',
      'required in aws mode',
    );
    sqs ??= new SQSClient({});
    queue = createSqsQueue({ client: sqs, queueUrl, maxReceives: config.queue.maxReceives });
    return queue;
  };

  const policies =
    overrides.policies ?? new Map(config.gateway.policies.map((p) => [policyVersion(p), p]));
  const newAuditor = (options: Partial<AuditorOptions> = {}): Auditor =>
    createAuditor({
      verifiers,
      clockSkewSec: config.gateway.clockSkewSec,
      clock,
      // An empty map would flag every EXECUTED receipt: only re-check when policies are known.
      ...(policies.size > 0 ? { policies } : {}),
      ...options,
    });

  /**
   * Fail fast when a trusted key cannot be loaded: otherwise every receipt would be reported as
   * a bad signature (unknown kid), which reads like tampering but is a setup problem.
   */
  async function preflight(): Promise<void> {
    if (overrides.verifiers) return;
    try {
      if (aws) {
        await kms!.send(new GetPublicKeyCommand({ KeyId: config.gateway.kmsKeyId }));
      } else {
        for (const name of [EmbeddedKeyNames.GATEWAY, EmbeddedKeyNames.REQUESTER]) {
          await readJwksFile(join(paths.keysDir, `${name}.jwks.json`));
        }
      }
    } catch (cause) {
      throw new AuditError(
        'KEY_UNAVAILABLE',
        `cannot load the trusted public keys: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  async function loadCheckpoints(auditor: Auditor): Promise<void> {
    for (const c of await checkpoints.list()) await auditor.addCheckpoint(c.token);
  }

  return {
    mode: config.mode,
    failOnFindings: config.audit.failOnFindings,
    createAuditor: newAuditor,
    preflight,

    async replay(request) {
      await preflight();
      const auditor = newAuditor({
        // A checkpoint signed just before `to` may cover a receipt the bus accepted just after
        // it: only checkpoints a minute clear of the window's end prove a truncated tail.
        window: { checkpointsUntil: Math.floor(request.to / 1000) - 60 },
        ...(request.gateway ? { gateway: request.gateway } : {}),
        ...(request.onFinding ? { onFinding: request.onFinding } : {}),
      });
      const source: AuditSource = {
        kind: aws ? 'eventbridge-replay' : 'embedded-archive',
        from: new Date(request.from).toISOString(),
        to: new Date(request.to).toISOString(),
        gateway: request.gateway ?? null,
      };
      if (aws) {
        const archiveArn = requireField(
          config.bus.archiveArn,
          'COUNTERSIGN_ARCHIVE_ARN',
          'required for an audit replay in aws mode',
        );
        await replayEventBridgeArchive({
          client: overrides.eventBridge ?? new EventBridgeClient({}),
          queue: auditQueue(),
          auditor,
          archiveArn,
          busName: config.bus.name,
          from: request.from,
          to: request.to,
          replayName: `countersign-audit-${clock.now()}-${randomBytes(3).toString('hex')}`,
          clock,
          ...(overrides.expectedReplayEvents === undefined
            ? {}
            : { expected: overrides.expectedReplayEvents }),
          ...(overrides.replayQuietMs === undefined ? {} : { quietMs: overrides.replayQuietMs }),
          ...(request.onProgress ? { onProgress: request.onProgress } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        });
      } else {
        await replayEmbeddedArchive({
          archive: embeddedArchive(),
          auditor,
          from: request.from,
          to: request.to,
          ...(request.onProgress ? { onProgress: request.onProgress } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        });
      }
      await loadCheckpoints(auditor);
      return auditor.finish(source);
    },

    async live(request) {
      await preflight();
      const state = overrides.state ?? jsonFileAuditState(join(paths.root, 'audit-heads.json'));
      const starts = await state.load();
      const auditor = newAuditor({
        starts,
        // Streams never seen before start where the live consumer first meets them.
        window: { checkpointsUntil: null },
        ...(request.onFinding ? { onFinding: request.onFinding } : {}),
      });
      if (aws) {
        await runSqsLive({ queue: auditQueue(), auditor, state, signal: request.signal });
      } else {
        await runEmbeddedLive({
          archive: embeddedArchive(),
          auditor,
          state,
          signal: request.signal,
        });
      }
      await loadCheckpoints(auditor);
      return auditor.finish({
        kind: aws ? 'sqs-live' : 'embedded-live',
        from: null,
        to: null,
        gateway: null,
      });
    },

    async reconcile(request) {
      if (aws) {
        throw new ConfigError([
          {
            path: 'COUNTERSIGN_MODE',
            message:
              'audit reconcile needs the embedded mode: in aws mode the paper exchange lives in each process and no exchange adapter lists its orders yet',
          },
        ]);
      }
      await preflight();
      return reconcileExchange({
        archive: embeddedArchive(),
        verifiers,
        exchange: request.exchange,
        ...(request.nonces ? { nonces: request.nonces } : {}),
        from: request.from,
        to: request.to,
        clock,
        // Past its lease, a request's message comes back within a visibility timeout and is
        // taken over; still IN_PROGRESS after that, nothing is going to finish it.
        stuckAfterMs: config.queue.visibilityTimeoutSec * 1000,
        ...(request.onFinding ? { onFinding: request.onFinding } : {}),
        ...(request.signal ? { signal: request.signal } : {}),
      });
    },

    async close() {
      if (!overrides.archive) await archive?.close?.();
      if (!overrides.queue) await queue?.close?.();
    },
  };
}
