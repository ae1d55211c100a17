// Composition root of the requester HTTP server: the only place that reads the environment.
// A configuration error prints one line per bad field and exits 2.
import { isCountersignError, loadConfig } from '@countersign/contracts';
import type { CountersignConfig, FieldIssue } from '@countersign/contracts';
import { startTracingFromConfig } from '@countersign/observability/sdk';
import { runRequesterServer } from './run-server.ts';

function loadOrExit(): CountersignConfig {
  try {
    return loadConfig(process.env, 'requester');
  } catch (err) {
    if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
      const issues = (err as { issues?: readonly FieldIssue[] }).issues ?? [];
      for (const i of issues) console.error(`config: ${i.path}: ${i.message}`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadOrExit();
  const tracing = startTracingFromConfig(config.observability, 'countersign-requester');
  const running = await runRequesterServer(config);
  const shutdown = () => {
    running
      .stop()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(`requester: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
