// cdk-nag is CommonJS with re-exports Node's ESM loader cannot name statically
// ("does not provide an export named ..."): import the module object once, here.
import cdkNag from 'cdk-nag';

export const { AwsSolutionsChecks, NagMessageLevel } = cdkNag;
