// The configuration file: JSON with comments (JSONC), so `countersign init` can explain every
// field in the file itself and plain JSON files keep working. Parsed with Microsoft's
// jsonc-parser (the parser of VS Code's settings files) into a syntax tree, which gives each
// value its position: a bad field is reported as `file:line:column field.path`.
//
// Stricter than JSON.parse where a config file is concerned: a key given twice is an error (not
// "the last one wins"), and `__proto__`/`constructor`/`prototype` keys are refused.
// Relative paths inside the file are relative to the file's directory, so a data directory can
// be moved or used from anywhere.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { errorCodeOf } from './errors.ts';
import { formatPath, type FieldIssue, type Parsed } from './validation.ts';

/** The file every command reads from the data directory (`countersign init` writes it). */
export const CONFIG_FILE_NAME = 'config.jsonc';
/** The data directory when neither COUNTERSIGN_DATA_DIR nor `--data-dir` names one. */
export const DEFAULT_DATA_DIR = '.countersign';

/** A parsed configuration file and where each of its values sits. */
export interface ConfigFile {
  /** The file as named to the user (messages start with it). */
  readonly path: string;
  /** Its content: a JSON value, relative paths already resolved against the file's directory. */
  readonly data: unknown;
  /** True for `<dataDir>/config.jsonc` (found through the data directory, not named by env). */
  readonly inDataDir: boolean;
  /** `line:column` (1-based) of the value at `path`, or of its nearest ancestor in the file. */
  position(path: readonly PropertyKey[]): string;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Config fields holding a file or directory path (resolved against the file's directory). */
const PATH_FIELDS: readonly (readonly string[])[] = [
  ['dataDir'],
  ['audit', 'stateFile'],
  ['checkpoints', 'mirror'],
  ['exchange', 'kekFile'],
  ['exchange', 'credentials'], // unless `ssm:<name>`
];

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** 1-based `line:column` of an offset. */
function positionOf(starts: readonly number[], offset: number): string {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return `${lo + 1}:${offset - starts[lo]! + 1}`;
}

/** The tree node at `path` (a property's key node for object members), or its nearest ancestor. */
function nearestNode(root: Node, path: readonly PropertyKey[]): Node {
  let node = root;
  for (const seg of path) {
    let next: Node | undefined;
    if (node.type === 'object' && typeof seg === 'string') {
      next = node.children?.find((p) => p.children?.[0]?.value === seg)?.children?.[1];
    } else if (node.type === 'array' && typeof seg === 'number') {
      next = node.children?.[seg];
    }
    if (!next) break;
    node = next;
  }
  // Point at the key of an object member ("port": 99999 is reported on the line of "port").
  return node.parent?.type === 'property' ? node.parent : node;
}

/** Builds the value of a tree node; duplicate and forbidden keys are issues. */
function valueOf(
  node: Node,
  path: PropertyKey[],
  where: (n: Node) => string,
  issues: FieldIssue[],
): unknown {
  switch (node.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const prop of node.children ?? []) {
        const [keyNode, valueNode] = prop.children ?? [];
        if (!keyNode || !valueNode) continue;
        const key = String(keyNode.value);
        const at = `${where(keyNode)} ${formatPath([...path, key])}`;
        if (FORBIDDEN_KEYS.has(key)) {
          issues.push({ path: at, message: `"${key}" is not allowed as a key` });
        } else if (seen.has(key)) {
          issues.push({ path: at, message: `"${key}" is given twice` });
        } else {
          seen.add(key);
          out[key] = valueOf(valueNode, [...path, key], where, issues);
        }
      }
      return out;
    }
    case 'array':
      return (node.children ?? []).map((child, i) => valueOf(child, [...path, i], where, issues));
    default:
      return node.value as unknown;
  }
}

function resolveIn(base: string, value: unknown): unknown {
  if (typeof value !== 'string' || value === '' || value.startsWith('ssm:')) return value;
  return isAbsolute(value) ? value : join(base, value);
}

/** Resolves the path fields of parsed file content against `base` (the file's directory). */
function resolvePaths(data: unknown, base: string): void {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return;
  const root = data as Record<string, unknown>;
  for (const path of PATH_FIELDS) {
    const parent = path
      .slice(0, -1)
      .reduce<unknown>(
        (node, key) =>
          typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : null,
        root,
      );
    const key = path[path.length - 1]!;
    if (typeof parent === 'object' && parent !== null && !Array.isArray(parent)) {
      const obj = parent as Record<string, unknown>;
      if (key in obj) obj[key] = resolveIn(base, obj[key]);
    }
  }
  const gateway = root.gateway as { policies?: unknown } | undefined;
  if (Array.isArray(gateway?.policies)) {
    for (const p of gateway.policies as unknown[]) {
      if (typeof p === 'object' && p !== null && 'jwksFile' in p) {
        const policy = p as Record<string, unknown>;
        policy.jwksFile = resolveIn(base, policy.jwksFile);
      }
    }
  }
}

/**
 * A copy of configuration data with every relative path made absolute against `base`: what a
 * process writes into a config file for another process (which reads paths against the file).
 */
export function withAbsolutePaths<T extends object>(data: T, base: string): T {
  const copy = structuredClone(data);
  resolvePaths(copy, resolve(base));
  return copy;
}

/**
 * Parses the text of a configuration file (JSONC): the file, or one issue per syntax error,
 * duplicate or forbidden key (`readConfigFile` turns them into a ConfigError).
 */
export function parseConfigText(
  text: string,
  path: string,
  options: { readonly inDataDir?: boolean } = {},
): Parsed<ConfigFile> {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const starts = lineStarts(body);
  const where = (n: Node) => `${path}:${positionOf(starts, n.offset)}`;
  const errors: ParseError[] = [];
  const root = parseTree(body, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0 || !root) {
    const issues = errors.slice(0, 5).map((e) => ({
      path: `${path}:${positionOf(starts, e.offset)}`,
      message: `not valid JSON with comments (${printParseErrorCode(e.error)})`,
    }));
    return {
      ok: false,
      issues:
        issues.length > 0 ? issues : [{ path, message: 'is empty: it must hold a JSON object' }],
    };
  }
  if (root.type !== 'object') {
    return { ok: false, issues: [{ path: where(root), message: 'must hold a JSON object' }] };
  }
  const issues: FieldIssue[] = [];
  const data = valueOf(root, [], where, issues);
  if (issues.length > 0) return { ok: false, issues };
  resolvePaths(data, dirname(resolve(path)));
  return {
    ok: true,
    value: {
      path,
      data,
      inDataDir: options.inDataDir ?? false,
      position: (p) => positionOf(starts, nearestNode(root, p).offset),
    },
  };
}

/** Reads and parses a config file; `undefined` when `optional` and it does not exist. */
export function readConfigText(
  path: string,
  options: { readonly optional: boolean; readonly inDataDir: boolean },
): Parsed<ConfigFile> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = errorCodeOf(err) ?? 'error';
    if (options.optional && code === 'ENOENT') return undefined;
    return { ok: false, issues: [{ path, message: `cannot be read (${code})` }] };
  }
  return parseConfigText(text, path, { inDataDir: options.inDataDir });
}
