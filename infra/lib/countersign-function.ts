// A Lambda function bundled by the local esbuild (no Docker) as ESM for Node 22, with its own
// role that starts empty: no managed policies, only the statements the stack adds by name.
import { RemovalPolicy, type Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOCK_FILE, REPO_ROOT } from './paths.ts';

/**
 * esbuild options shared by every function. ESM output needs a `require` for bundled CommonJS
 * dependencies that call it (esbuild's ESM shim throws "Dynamic require of ... is not
 * supported" otherwise): the banner creates one from import.meta.url.
 */
export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  banner:
    "import { createRequire as __countersignCreateRequire } from 'node:module'; const require = __countersignCreateRequire(import.meta.url);",
  // The Node 22 runtime ships the AWS SDK v3; everything else (our packages, zod, jose, pino...)
  // is bundled, so nothing the handlers import at runtime is left out.
  externalModules: ['@aws-sdk/*'],
  minify: true,
  sourceMap: true,
  forceDockerBundling: false,
};

export interface CountersignFunctionProps {
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
}

export class CountersignFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: CountersignFunctionProps) {
    super(scope, id);
    // Created here (not by Lambda on first write) so it has a retention and the role needs no
    // logs:CreateLogGroup.
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `countersign ${id}: ${props.description}`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // logGroupArn ends in ":*", which covers this group's log streams and nothing else.
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.fn = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: LOCK_FILE,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      timeout: props.timeout,
      memorySize: props.memorySize,
      role: this.role,
      logGroup: this.logGroup,
      // The bundle is minified: map stack traces back to the TypeScript sources.
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: BUNDLING,
    });
  }

  /** Adds one identity-policy statement to this function's role. */
  allow(statement: iam.PolicyStatement): void {
    this.role.addToPrincipalPolicy(statement);
  }
}
