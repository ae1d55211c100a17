// CDK app entry (`npx cdk synth` from the repo root). Env-agnostic: no account or region here,
// so synth needs no AWS credentials; `cdk deploy` picks them from the caller's profile.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from '../lib/cdk-nag.ts';
import { CountersignStack } from '../lib/countersign-stack.ts';
import { settingsFromContext } from '../lib/settings.ts';

const app = new App();
const stackName: unknown = app.node.tryGetContext('stackName');
new CountersignStack(app, typeof stackName === 'string' ? stackName : 'Countersign', {
  settings: settingsFromContext((key) => app.node.tryGetContext(key) as unknown),
});
// cdk-nag on every synth: any unacknowledged AwsSolutions finding fails `cdk synth` (and CI).
// `-c nag=false` skips it while iterating on a change.
const nag: unknown = app.node.tryGetContext('nag');
if (nag !== 'false' && nag !== false) {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}
app.synth();
