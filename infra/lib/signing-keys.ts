// Asymmetric KMS signing keys with key policies that keep administration and use apart.
//
// One construct per signer (requester, gateway). Each key generation is its own AWS::KMS::Key
// (asymmetric keys cannot rotate in place); the alias points at the newest one, which is the only
// one the signer may use. Older generations stay readable (kms:GetPublicKey) for verifiers so
// tokens and receipts signed before a rotation keep verifying. See infra/README.md (runbook).
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import {
  algFor,
  KMS_SIGNING_ALGORITHM,
  type KeyVersion,
  type RsaAlg,
  type SigningAlg,
} from './settings.ts';

/**
 * What a key administrator may do: manage the key's lifecycle, policy, aliases and tags. Written
 * out (no `kms:Get*`, `kms:Create*` wildcards) because those would include kms:GetPublicKey and
 * kms:CreateGrant, i.e. use of the key. kms:PutKeyPolicy is inherent to administration; it is
 * logged by CloudTrail like every other call.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:CancelKeyDeletion',
  'kms:CreateAlias',
  'kms:DeleteAlias',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:EnableKey',
  'kms:GetKeyPolicy',
  'kms:ListAliases',
  'kms:ListGrants',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:UpdateAlias',
  'kms:UpdateKeyDescription',
] as const;

/** Actions that use key material; no administrator statement may contain one of these. */
export const KEY_USE_ACTIONS = [
  'kms:Sign',
  'kms:Verify',
  'kms:GetPublicKey',
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyPair',
  'kms:CreateGrant',
] as const;

/** The key policy statement of administrators: lifecycle, never use. */
export function keyAdministration(admins: readonly iam.IPrincipal[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'KeyAdministration',
    principals: [...admins],
    actions: [...KEY_ADMIN_ACTIONS],
    resources: ['*'],
  });
}

export interface SigningKeySetProps {
  /** "requester" or "gateway": used in the alias and descriptions. */
  readonly name: string;
  readonly versions: readonly KeyVersion[];
  readonly rsaAlg: RsaAlg;
  /** Principals that manage the keys (never use them). */
  readonly admins: readonly iam.IPrincipal[];
  /** The one role that signs, with the newest key only. */
  readonly signer: iam.IRole;
  /** Roles that only read public keys (verify locally, zero KMS calls per message). */
  readonly verifiers: readonly iam.IRole[];
}

export class SigningKeySet extends Construct {
  /** Newest generation: the one the alias names and the signer uses. */
  readonly current: kms.Key;
  /** Every generation, oldest first (the last is `current`). */
  readonly keys: readonly kms.Key[];
  readonly alias: kms.Alias;
  /** JOSE alg of the current key. */
  readonly alg: SigningAlg;
  /** JOSE alg of each generation, as `keys`. */
  private readonly algs: readonly SigningAlg[];

  constructor(scope: Construct, id: string, props: SigningKeySetProps) {
    super(scope, id);
    if (props.versions.length === 0) throw new Error(`${props.name}: no key versions`);
    if (props.admins.length === 0) throw new Error(`${props.name}: no key administrators`);
    const last = props.versions[props.versions.length - 1]!;
    this.alg = algFor(last.keySpec, props.rsaAlg);
    this.algs = props.versions.map((v) => algFor(v.keySpec, props.rsaAlg));

    this.keys = props.versions.map((v) => {
      const isCurrent = v === last;
      const alg = algFor(v.keySpec, props.rsaAlg);
      // In a key policy, Resource "*" means "this key": AWS requires it (a key policy cannot
      // name other resources), so each statement below is scoped by the key it is attached to.
      const statements = [
        keyAdministration(props.admins),
        new iam.PolicyStatement({
          sid: 'ReadPublicKey',
          principals: [props.signer, ...props.verifiers].map(
            (r) => new iam.ArnPrincipal(r.roleArn),
          ),
          actions: ['kms:GetPublicKey'],
          resources: ['*'],
        }),
      ];
      if (isCurrent) {
        statements.push(
          new iam.PolicyStatement({
            sid: 'SignWithCurrentKey',
            principals: [new iam.ArnPrincipal(props.signer.roleArn)],
            actions: ['kms:Sign'],
            resources: ['*'],
            conditions: { StringEquals: { 'kms:SigningAlgorithm': KMS_SIGNING_ALGORITHM[alg] } },
          }),
        );
      }
      return new kms.Key(this, `V${v.version}`, {
        description: `countersign ${props.name} signing key v${v.version} (${alg})${isCurrent ? '' : ', retired: verify only'}`,
        keySpec: kms.KeySpec[v.keySpec],
        keyUsage: kms.KeyUsage.SIGN_VERIFY,
        // Passing a policy replaces CDK's default "account root: kms:*" statement.
        policy: new iam.PolicyDocument({ statements }),
        // A lost signing key makes every receipt unverifiable: never delete with the stack.
        removalPolicy: RemovalPolicy.RETAIN,
      });
    });
    this.current = this.keys[this.keys.length - 1]!;
    this.alias = new kms.Alias(this, 'Alias', {
      aliasName: `alias/countersign/${props.name}`,
      targetKey: this.current,
    });
  }

  /**
   * The key set verifiers trust (`COUNTERSIGN_*_PUBLIC_KEYS`): every generation by ARN with its
   * alg, so a token or receipt signed by a previous generation keeps verifying while that
   * generation is listed (issue 18: the alias alone would name only the newest).
   */
  trustedKeySet(): string {
    return Stack.of(this).toJsonString(
      this.keys.map((k, i) => ({ kms: k.keyArn, alg: this.algs[i]! })),
    );
  }

  /**
   * `kms:GetPublicKey` on the generations before the current one, when there are any (the
   * signer's own role already reads the current one's).
   */
  readPreviousStatement(sid: string): iam.PolicyStatement | undefined {
    const previous = this.keys.slice(0, -1).map((k) => k.keyArn);
    if (previous.length === 0) return undefined;
    return new iam.PolicyStatement({ sid, actions: ['kms:GetPublicKey'], resources: previous });
  }

  /** ARNs of all generations (verifiers read each one's public key). */
  keyArns(): string[] {
    return this.keys.map((k) => k.keyArn);
  }
}
