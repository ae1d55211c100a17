// The exchange API credentials of the gateway (context `exchange=http`): a symmetric KMS key
// (rotation on) that only seals and opens these credentials, an SSM parameter name for the
// sealed blob, and the grants:
//   - the gateway role: kms:Decrypt only with the encryption context naming this gateway and
//     this exchange (key policy AND identity policy), ssm:GetParameter on that one parameter;
//   - the sealers (default: the key administrators): kms:GenerateDataKey, same context;
//   - administrators: lifecycle only, no use.
// The stack never writes the parameter: `countersign exchange credentials seal --out ssm:<name>`
// does (see infra/README.md), so a deploy can neither overwrite nor see the credentials.
import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { keyAdministration } from './signing-keys.ts';

/** Mirrors CREDENTIALS_PURPOSE of @countersign/exchange-gateway (the context's `purpose`). */
export const CREDENTIALS_PURPOSE = 'countersign-exchange-credentials';

export interface ExchangeCredentialsProps {
  readonly gatewayId: string;
  /** The venue's name: the encryption context's `exchange`. */
  readonly exchangeName: string;
  readonly exchangeUrl: string;
  /** SSM parameter holding the sealed blob. */
  readonly parameterName: string;
  readonly admins: readonly iam.IPrincipal[];
  /** Who may seal (kms:GenerateDataKey with this context). */
  readonly sealers: readonly iam.IPrincipal[];
  /** The one role that opens them. */
  readonly gatewayRole: iam.IRole;
}

export class ExchangeCredentials extends Construct {
  readonly key: kms.Key;
  readonly alias: kms.Alias;
  readonly parameterName: string;
  readonly parameterArn: string;
  /** The gateway's environment for HttpExchange (COUNTERSIGN_EXCHANGE_*). */
  readonly environment: Readonly<Record<string, string>>;
  /** The identity-policy statements the gateway role needs (the stack attaches them). */
  readonly gatewayStatements: readonly iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: ExchangeCredentialsProps) {
    super(scope, id);
    if (props.admins.length === 0) throw new Error('exchange credentials: no key administrators');
    // Exactly this context: these three keys, these values (no extra key can widen a grant).
    const context = {
      StringEquals: {
        'kms:EncryptionContext:purpose': CREDENTIALS_PURPOSE,
        'kms:EncryptionContext:gateway': props.gatewayId,
        'kms:EncryptionContext:exchange': props.exchangeName,
      },
      'ForAllValues:StringEquals': {
        'kms:EncryptionContextKeys': ['purpose', 'gateway', 'exchange'],
      },
    };
    const gatewayPrincipal = new iam.ArnPrincipal(props.gatewayRole.roleArn);
    this.key = new kms.Key(this, 'Key', {
      description: `countersign: seals the ${props.exchangeName} API credentials of gateway ${props.gatewayId}`,
      keySpec: kms.KeySpec.SYMMETRIC_DEFAULT,
      keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
      enableKeyRotation: true,
      // Passing a policy replaces CDK's default "account root: kms:*" statement.
      policy: new iam.PolicyDocument({
        statements: [
          keyAdministration(props.admins),
          new iam.PolicyStatement({
            sid: 'SealCredentials',
            principals: [...props.sealers],
            actions: ['kms:GenerateDataKey'],
            resources: ['*'],
            conditions: context,
          }),
          new iam.PolicyStatement({
            sid: 'OpenCredentials',
            principals: [gatewayPrincipal],
            actions: ['kms:Decrypt'],
            resources: ['*'],
            conditions: context,
          }),
        ],
      }),
      // Losing it loses the sealed credentials (re-issue them at the exchange): keep it.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.alias = new kms.Alias(this, 'Alias', {
      aliasName: `alias/countersign/${props.gatewayId}/exchange-credentials`,
      targetKey: this.key,
    });
    this.parameterName = props.parameterName;
    this.parameterArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: props.parameterName.replace(/^\//, ''),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.gatewayStatements = [
      new iam.PolicyStatement({
        sid: 'OpenExchangeCredentials',
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: context,
      }),
      new iam.PolicyStatement({
        sid: 'ReadExchangeCredentials',
        actions: ['ssm:GetParameter'],
        resources: [this.parameterArn],
      }),
    ];
    this.environment = {
      COUNTERSIGN_EXCHANGE: 'http',
      COUNTERSIGN_EXCHANGE_URL: props.exchangeUrl,
      COUNTERSIGN_EXCHANGE_NAME: props.exchangeName,
      COUNTERSIGN_EXCHANGE_CREDENTIALS: `ssm:${props.parameterName}`,
      COUNTERSIGN_EXCHANGE_KMS_KEY_ID: this.key.keyArn,
    };
  }
}
