// Composition from configuration: which keys, which bus or queue, which checkpoints. Embedded
// mode reads local JWKS files and the SQLite bus; AWS mode uses KMS public keys, the SQS audit
// queue and the EventBridge archive. Clients and adapters can be injected (tests, custom config).
import type { Metrics } from '@countersign/observability';
import { randomBytes } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  ConfigError,
  EmbeddedKeyNames,
  embeddedPaths,
  policyVersion,
  policyVersionWithKeys,
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
import {
  combineKeys,
  createKidOwners,
  jwksFile,
  keySetStaticSets,
  partyKeySet,
  partyKeySetWhere,
  partyKeys,
  policyKeys,
  type KeyResolver,
  type KidOwners,
} from '@countersign/verifier';
import { keyFilePaths } from '@countersign/signing';
import { createAuditor, type Auditor, type AuditorOptions } from './auditor.ts';
import { embeddedCheckpoints, s3Checkpoints } from './checkpoint-sources.ts';
import { AuditError } from './errors.ts';
import type {
  CheckpointSource,
  FindingListener,
  RememberedStream as RememberedStreamLike,
  TokenVerifiers,
} from './ports.ts';
import {
  replayEmbeddedArchive,
  replayEventBridgeArchive,
  eventBridgeArchiveRetentionSec,
  runEmbeddedLive,
  runSqsLive,
  saveWithRetry,
  type IngestListener,
  type LiveDrain,
  type ProgressListener,
  type StateErrorListener,
} from './sources.ts';
import { jsonFileAuditState, mergeMemory, type AuditStateStore } from './state-file.ts';
import type { AuditScope } from './stream-proof.ts';
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
  readonly s3?: Pick<S3Client, 'send'>;
  /** AWS replay: stop after this many events (default: when the replay is done and quiet). */
  readonly expectedReplayEvents?: number;
  readonly replayQuietMs?: number;
  /** Policies by version; default: the configured `gateway.policies`. EXECUTED receipts are re-checked against them. */
  readonly policies?: ReadonlyMap<string, RequesterPolicy>;
  /** Every auditor of this runtime records findings, receipts and verdicts here. */
  readonly metrics?: Metrics;
}

export interface ReplayRequest {
  /** Epoch ms, inclusive. Absent (with `to`): the whole archive, proven from genesis. */
  readonly from?: number;
  /** Epoch ms, exclusive. Absent: up to now, and every checkpoint counts. */
  readonly to?: number;
  /** Only this gateway's streams; it must be a trusted gateway. */
  readonly gateway?: string;
  /** The state file (default `audit.stateFile`, else `<dataDir>/audit-state.json`). */
  readonly stateFile?: string;
  readonly onFinding?: FindingListener;
  readonly onProgress?: ProgressListener;
  readonly onStateError?: StateErrorListener;
  readonly signal?: AbortSignal;
}

export interface LiveRequest {
  readonly signal: AbortSignal;
  readonly stateFile?: string;
  readonly onFinding?: FindingListener;
  readonly onStateError?: StateErrorListener;
}

/** Live traffic into the caller's auditor: no state file, no report (the demo's live view). */
export interface FollowRequest {
  readonly auditor: Auditor;
  readonly signal: AbortSignal;
  /** When set, an aborted signal drains what was already published instead of stopping. */
  readonly drain?: LiveDrain;
  readonly onIngested?: IngestListener;
  /** Embedded: the bus cursor's name (default `audit`; one cursor per concurrent reader). */
  readonly consumer?: string;
  /** Embedded: events per read. */
  readonly batch?: number;
  /** Longest wait of one read (ms). */
  readonly waitMs?: number;
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
  /** Replays the archive, or [from, to) of it (embedded SQLite or EventBridge), and reports. */
  replay(request: ReplayRequest): Promise<AuditReport>;
  /** Audits live traffic until the signal aborts, then reports. */
  live(request: LiveRequest): Promise<AuditReport>;
  /** Feeds live traffic to the caller's auditor (same sources as `live`); returns events read. */
  follow(request: FollowRequest): Promise<number>;
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
  const kmsClient = () => (kms ??= new KMSClient({}));
  // The key histories, resolved live (issue 18): the gateway's receipt keys
  // (COUNTERSIGN_GATEWAY_PUBLIC_KEYS, else its KMS key or alias, else its embedded key history),
  // this deployment's requester's and every policy's. Each key verifies what it signed while valid.
  let gatewayKeys: KeyResolver | undefined;
  let requesterKeys: KeyResolver | undefined;
  // Embedded: a key history not written yet is still the one to read (preflight names it).
  const history = (party: 'requester' | 'gateway', owners?: KidOwners) =>
    partyKeys(config, party, { clock, kms: kmsClient, ...(owners ? { owners } : {}) }) ??
    (aws
      ? undefined
      : jwksFile(
          keyFilePaths(
            paths.keysDir,
            party === 'gateway' ? EmbeddedKeyNames.GATEWAY : EmbeddedKeyNames.REQUESTER,
          ).jwksPath,
          { issuer: config[party].id, clock },
        ));
  const verifiers =
    overrides.verifiers ??
    (() => {
      gatewayKeys = history('gateway');
      if (!gatewayKeys) {
        requireField(
          undefined,
          'COUNTERSIGN_GATEWAY_KMS_KEY_ID',
          'required by audit in aws mode (receipts are verified with its public key), or COUNTERSIGN_GATEWAY_PUBLIC_KEYS',
        );
      }
      const requesterSet = partyKeySet(config, 'requester');
      const owners = createKidOwners();
      requesterKeys = history('requester', owners);
      return createAuditVerifiers({
        gatewayKeys: gatewayKeys!,
        requesterKeys: combineKeys(
          ...(requesterKeys ? [requesterKeys] : []),
          // Checked together with the local requester's keys: one kid, one key, one requester.
          ...policyKeys(config.gateway.policies, {
            clock,
            owners,
            kms: kmsClient,
            alsoTrusted: requesterSet
              ? keySetStaticSets(requesterSet, config.requester.id, partyKeySetWhere('requester'))
              : [],
          }),
        ),
        gateways: [gatewayId],
        requesters: requesterIds,
        clockSkewSec: config.gateway.clockSkewSec,
        clock,
      });
    })();

  // Checkpoints: the embedded gateway's append-only log (+ mirror), or the S3 bucket in AWS.
  const bucket = config.checkpoints.bucket;
  const checkpoints: CheckpointSource =
    overrides.checkpoints ??
    (aws
      ? bucket
        ? s3Checkpoints({ client: overrides.s3 ?? new S3Client({}), bucket })
        : { list: () => Promise.resolve([]) }
      : embeddedCheckpoints({
          log: paths.checkpointLog,
          ...(config.checkpoints.mirror ? { mirror: config.checkpoints.mirror } : {}),
        }));
  const checkpointNotes =
    aws && !bucket && !overrides.checkpoints
      ? [
          'no COUNTERSIGN_CHECKPOINT_BUCKET: without checkpoints a cut tail shows only against the remembered state',
        ]
      : [];
  // Receipts near a window's edge: read a margin so none is half-seen (see README).
  const settleSec = Math.max(60, 2 * config.gateway.checkpointIntervalSec);
  const stateStore = (file: string | undefined): AuditStateStore =>
    overrides.state ??
    jsonFileAuditState(file ?? config.audit.stateFile ?? paths.auditState, { clock });

  let archive = overrides.archive;
  let eventBridgeClient = overrides.eventBridge;
  const eventBridge = () => (eventBridgeClient ??= new EventBridgeClient({}));
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
    overrides.policies ??
    new Map(
      config.gateway.policies.flatMap((p) => [
        [policyVersionWithKeys(p), p] as const,
        [policyVersion(p), p] as const,
      ]),
    );
  const newAuditor = (options: Partial<AuditorOptions> = {}): Auditor =>
    createAuditor({
      verifiers,
      clockSkewSec: config.gateway.clockSkewSec,
      clock,
      // An empty map would flag every EXECUTED receipt: only re-check when policies are known.
      ...(policies.size > 0 ? { policies } : {}),
      ...(overrides.metrics ? { metrics: overrides.metrics } : {}),
      ...(!aws && !overrides.checkpoints
        ? config.checkpoints.mirror
          ? { checkpointMirror: true }
          : { checkpointLogOnly: true }
        : {}),
      ...options,
    });

  /**
   * Fail fast when a trusted key cannot be loaded: otherwise every receipt would be reported as
   * a bad signature (unknown kid), which reads like tampering but is a setup problem.
   */
  async function preflight(): Promise<void> {
    if (overrides.verifiers) return;
    try {
      await gatewayKeys?.list?.();
      if (!aws) await requesterKeys?.list?.();
    } catch (cause) {
      throw new AuditError(
        'KEY_UNAVAILABLE',
        `cannot load the trusted public keys: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  async function loadCheckpoints(auditor: Auditor): Promise<void> {
    await auditor.addCheckpoints(await checkpoints.list());
  }

  function checkGateway(gateway: string | undefined): void {
    if (gateway !== undefined && gateway !== gatewayId) {
      throw new ConfigError([
        {
          path: '--gateway',
          message: `unknown gateway "${gateway.slice(0, 64)}": this audit trusts ${gatewayId}`,
        },
      ]);
    }
  }

  /** Saves after a run; a failure leaves the report without `memory.saved` and a note. */
  async function remember(
    state: AuditStateStore,
    base: ReadonlyMap<string, RememberedStreamLike>,
    memory: ReadonlyMap<string, RememberedStreamLike>,
    report: AuditReport,
    onError: StateErrorListener | undefined,
  ): Promise<AuditReport> {
    // `base` keeps what this run did not look at (another gateway's streams with --gateway).
    const saved = await saveWithRetry(
      { state, base, ...(onError ? { onError } : {}) },
      memory,
      AbortSignal.abort(),
      3,
    );
    const described = state.describe?.();
    return {
      ...report,
      ...(described ? { memory: described } : {}),
      ...(saved
        ? {}
        : { notes: [...(report.notes ?? []), 'the audit state could not be saved: see stderr'] }),
    };
  }

  return {
    mode: config.mode,
    failOnFindings: config.audit.failOnFindings,
    createAuditor: newAuditor,
    preflight,

    async replay(request) {
      checkGateway(request.gateway);
      await preflight();
      const state = stateStore(request.stateFile);
      const remembered = await state.load();
      const windowed = request.from !== undefined || request.to !== undefined;
      const scope: AuditScope = windowed
        ? {
            kind: 'window',
            from: request.from === undefined ? null : Math.floor(request.from / 1000),
            to: request.to === undefined ? null : Math.floor(request.to / 1000),
          }
        : { kind: 'full' };
      // Only the EventBridge archive expires receipts; the embedded archive keeps them all.
      const retentionSec =
        aws && !windowed && config.bus.archiveArn
          ? await eventBridgeArchiveRetentionSec(eventBridge(), config.bus.archiveArn)
          : undefined;
      const auditor = newAuditor({
        scope,
        remembered,
        ...(retentionSec === undefined ? {} : { archiveRetentionSec: retentionSec }),
        ...(request.gateway ? { gateway: request.gateway } : {}),
        ...(request.onFinding ? { onFinding: request.onFinding } : {}),
      });
      const source: AuditSource = {
        kind: aws ? 'eventbridge-replay' : 'embedded-archive',
        from: request.from === undefined ? null : new Date(request.from).toISOString(),
        to: request.to === undefined ? null : new Date(request.to).toISOString(),
        gateway: request.gateway ?? null,
      };
      // Read a settle margin around a window: a receipt signed just before `from`, or archived
      // just after `to` although a checkpoint before `to` covers it, is then seen.
      const readFrom = request.from === undefined ? undefined : request.from - settleSec * 1000;
      const readTo = request.to === undefined ? undefined : request.to + 5000;
      if (aws) {
        const archiveArn = requireField(
          config.bus.archiveArn,
          'COUNTERSIGN_ARCHIVE_ARN',
          'required for an audit replay in aws mode',
        );
        await replayEventBridgeArchive({
          client: eventBridge(),
          queue: auditQueue(),
          auditor,
          archiveArn,
          busName: config.bus.name,
          from: readFrom ?? 0,
          to: readTo ?? clock.now(),
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
          ...(readFrom === undefined ? {} : { from: readFrom }),
          ...(readTo === undefined ? {} : { to: readTo }),
          ...(request.onProgress ? { onProgress: request.onProgress } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        });
      }
      await loadCheckpoints(auditor);
      const report = auditor.finish(source, { notes: checkpointNotes });
      return remember(state, remembered, auditor.memory(), report, request.onStateError);
    },

    async live(request) {
      await preflight();
      const state = stateStore(request.stateFile);
      const loaded = await state.load();
      const auditor = newAuditor({
        starts: loaded,
        scope: { kind: 'partial', checkpointsUntil: null }, // bounded at finish (below)
        ...(request.onFinding ? { onFinding: request.onFinding } : {}),
      });
      const saving = {
        state,
        base: loaded,
        ...(request.onStateError ? { onError: request.onStateError } : {}),
      };
      if (aws) {
        await runSqsLive({ queue: auditQueue(), auditor, state: saving, signal: request.signal });
      } else {
        await runEmbeddedLive({
          archive: embeddedArchive(),
          auditor,
          state: saving,
          signal: request.signal,
        });
      }
      await loadCheckpoints(auditor);
      const report = auditor.finish(
        { kind: aws ? 'sqs-live' : 'embedded-live', from: null, to: null, gateway: null },
        // Checkpoints younger than the settle margin may name receipts still on their way.
        { notes: checkpointNotes, checkpointsUntil: Math.floor(clock.now() / 1000) - settleSec },
      );
      return remember(
        state,
        loaded,
        mergeMemory(auditor.heads(), auditor.memory()),
        report,
        request.onStateError,
      );
    },

    async follow(request) {
      const common = {
        auditor: request.auditor,
        signal: request.signal,
        ...(request.drain ? { drain: request.drain } : {}),
        ...(request.onIngested ? { onIngested: request.onIngested } : {}),
        ...(request.waitMs === undefined ? {} : { waitMs: request.waitMs }),
      };
      if (aws) return runSqsLive({ ...common, queue: auditQueue() });
      return runEmbeddedLive({
        ...common,
        archive: embeddedArchive(),
        ...(request.consumer === undefined ? {} : { consumer: request.consumer }),
        ...(request.batch === undefined ? {} : { batch: request.batch }),
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
