// The `countersign` command: one entry for every part (`npm start` = `countersign start`).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { register as registerAudit } from './commands/audit.ts';
import { register as registerExchange } from './commands/exchange.ts';
import { register as registerGateway } from './commands/gateway.ts';
import { register as registerInit } from './commands/init.ts';
import { register as registerKeys } from './commands/keys.ts';
import { register as registerQueue } from './commands/queue.ts';
import { register as registerRequester } from './commands/requester.ts';
import { register as registerStart } from './commands/start.ts';

/** The product's version: the root package.json's. */
function version(): string {
  const pkg = JSON.parse(
    readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
  ) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

const program = new Command('countersign')
  .description(
    'end-to-end signed transaction authorization: sign in KMS, verify locally, refuse replays, receipt and audit everything',
  )
  .version(version(), '-V, --version', 'print the version')
  .option(
    '--data-dir <dir>',
    'data directory of every command (COUNTERSIGN_DATA_DIR; default .countersign); its config.jsonc is read',
  )
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError()
  .exitOverride((err) => {
    // commander's own usage errors (unknown option, missing argument) exit 2 like bad config.
    process.exit(err.exitCode === 0 ? 0 : 2);
  })
  // `--data-dir` is the same as COUNTERSIGN_DATA_DIR (and wins over it), before or after the
  // command name: every command reads its configuration from env.
  .hook('preAction', () => {
    const dir = program.opts<{ dataDir?: string }>().dataDir;
    if (dir !== undefined) process.env.COUNTERSIGN_DATA_DIR = dir;
  });
registerInit(program);
registerStart(program);
registerRequester(program);
registerKeys(program);
registerGateway(program);
registerAudit(program);
registerExchange(program);
registerQueue(program);

await program.parseAsync(process.argv);
