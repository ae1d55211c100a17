#!/usr/bin/env node
// `npx countersign ...` and `npm start`: runs the TypeScript CLI through tsx's loader, in this
// process (no build step). Not the `tsx` command: that one runs the CLI in a child process and,
// when the child does not acknowledge a Ctrl-C within ~60 ms (a busy event loop), kills it with
// SIGKILL, so the demo's final summary would be lost.
import { register } from 'tsx/esm/api';

register();
await import('../services/cli/src/main.ts');
