// Placeholder created by the infra helper so `cdk synth` can bundle this entry. The service
// owner replaces it with the real Lambda composition root (reads env, wires the AWS adapters).
export const handler = (): never => {
  throw new Error('not wired yet');
};
