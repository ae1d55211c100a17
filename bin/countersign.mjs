#!/usr/bin/env node
// `npx countersign ...`: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../services/cli/src/main.ts');
