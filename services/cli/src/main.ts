// The `countersign` command: one entry for every part (`npm start` = `countersign start`).
import { Command } from 'commander';
import { register as registerAudit } from './commands/audit.ts';
import { register as registerExchange } from './commands/exchange.ts';
import { register as registerGateway } from './commands/gateway.ts';
import { register as registerKeys } from './commands/keys.ts';
import { register as registerRequester } from './commands/requester.ts';
import { register as registerStart } from './commands/start.ts';

const program = new Command('countersign')
  .description(
    'end-to-end signed transaction authorization: sign in KMS, verify locally, refuse replays, receipt and audit everything',
  )
  .showHelpAfterError()
  .exitOverride((err) => {
    // commander's own usage errors (unknown option, missing argument) exit 2 like bad config.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
registerStart(program);
registerRequester(program);
registerKeys(program);
registerGateway(program);
registerAudit(program);
registerExchange(program);

await program.parseAsync(process.argv);
