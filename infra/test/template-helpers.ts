// Shared by the infra tests: build the stack without bundling (fast), and read IAM out of the
// synthesized template: which role may do which action on which resource, from identity
// policies and KMS key policies alike.
import { App, Stack, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { CountersignStack } from '../lib/countersign-stack.ts';
import type { CountersignSettings } from '../lib/settings.ts';

export interface Built {
  readonly app: App;
  readonly stack: CountersignStack;
  readonly template: Template;
  readonly json: TemplateJson;
  /** Logical id of a construct's CloudFormation resource. */
  id(construct: IConstruct): string;
}

export interface TemplateJson {
  Resources: Record<
    string,
    { Type: string; Properties?: Record<string, unknown> } & Record<string, unknown>
  >;
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, unknown>;
}

/** Builds the stack with asset bundling skipped (`aws:cdk:bundling-stacks: []`). */
export function build(settings: Partial<CountersignSettings> = {}): Built {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new CountersignStack(app, 'Test', { settings });
  const template = Template.fromStack(stack);
  return {
    app,
    stack,
    template,
    json: template.toJSON() as TemplateJson,
    id: (construct) => {
      const child = (construct.node.defaultChild ?? construct) as CfnElement;
      return Stack.of(construct).getLogicalId(child);
    },
  };
}

export const asArray = <T>(v: T | T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** Logical ids a policy value refers to (`Ref`, `Fn::GetAtt`, nested in `Fn::Join`). */
export function refsIn(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap(refsIn);
  const obj = value as Record<string, unknown>;
  if (typeof obj.Ref === 'string') return obj.Ref.startsWith('AWS::') ? [] : [obj.Ref];
  const getAtt = obj['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return [getAtt[0]];
  return Object.values(obj).flatMap(refsIn);
}

/** Identity-policy statements attached to a role (AWS::IAM::Policy resources naming it). */
export function roleStatements(json: TemplateJson, roleId: string): Statement[] {
  return Object.values(json.Resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        refsIn((r.Properties as { Roles?: unknown }).Roles).includes(roleId),
    )
    .flatMap(
      (r) =>
        (r.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
    );
}

export function keyPolicyStatements(json: TemplateJson, keyId: string): Statement[] {
  const key = json.Resources[keyId];
  if (key?.Type !== 'AWS::KMS::Key') throw new Error(`${keyId} is not a KMS key`);
  return (key.Properties as { KeyPolicy: { Statement: Statement[] } }).KeyPolicy.Statement;
}

const actionMatches = (pattern: string, action: string): boolean =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  ).test(action);

/**
 * May `roleId` perform `action` on the resource `resourceId`? Allowed by an identity-policy
 * statement whose Resource refers to it, or (KMS keys) by a key policy statement naming the
 * role. Conditions are ignored: this over-approximates, which is the safe side for "cannot".
 */
export function can(
  json: TemplateJson,
  roleId: string,
  action: string,
  resourceId: string,
): boolean {
  const viaIdentity = roleStatements(json, roleId).some(
    (s) =>
      s.Effect === 'Allow' &&
      asArray(s.Action).some((a) => actionMatches(a, action)) &&
      (s.Resource === '*' || refsIn(s.Resource).includes(resourceId)),
  );
  const resource = json.Resources[resourceId];
  const viaKeyPolicy =
    resource?.Type === 'AWS::KMS::Key' &&
    keyPolicyStatements(json, resourceId).some(
      (s) =>
        s.Effect === 'Allow' &&
        asArray(s.Action).some((a) => actionMatches(a, action)) &&
        (s.Principal === '*' ||
          JSON.stringify(s.Principal) === '{"AWS":"*"}' ||
          refsIn(s.Principal).includes(roleId)),
    );
  return viaIdentity || viaKeyPolicy;
}

export function resourcesOfType(json: TemplateJson, type: string): string[] {
  return Object.entries(json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}

/**
 * The first synth in a process loads CDK's CloudFormation schema validator (WASM): seconds on a
 * busy 2-core machine, so hooks that build get more than vitest's default 10 s.
 */
export const BUILD_TIMEOUT_MS = 90_000;
