// Composition root of the requester HTTP server: the only place that reads the environment.
import { isCountersignError, loadConfig } from '@countersign/contracts';
import type { CountersignConfig } from '@countersign/contracts';
import { startHttpServer } from './server.ts';
import { createRequesterServiceFromConfig } from './wiring.ts';

/** Starts the server from a validated config; resolves once it listens. */
export async function runRequesterServer(config: CountersignConfig): Promise<() => Promise<void>> {
  const service = await createRequesterServiceFromConfig(config);
  const server = await startHttpServer(service.app, {
    host: config.requester.host,
    port: config.requester.port,
  });
  service.logger.info(
    { url: server.url, mode: config.mode, kid: service.signer.kid, iss: config.requester.id },
    'requester listening',
  );
  return async () => {
    await server.close();
    await service.close();
  };
}

function loadOrExit(): CountersignConfig {
  try {
    return loadConfig(process.env, 'requester');
  } catch (err) {
    if (isCountersignError(err) && err.code === 'CONFIG_INVALID') {
      const issues =
        (err as { issues?: readonly { path: string; message: string }[] }).issues ?? [];
      for (const i of issues) console.error(`config: ${i.path}: ${i.message}`);
      process.exit(2);
    }
    throw err;
  }
}

export async function main(): Promise<void> {
  const stop = await runRequesterServer(loadOrExit());
  const shutdown = () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(`requester: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
