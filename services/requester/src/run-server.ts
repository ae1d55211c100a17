// Starts the requester HTTP server from validated configuration (main.ts and the CLI).
import type { CountersignConfig } from '@countersign/contracts';
import { startHttpServer, type RunningServer } from './server.ts';
import { createRequesterServiceFromConfig, type RequesterServiceOverrides } from './wiring.ts';

export interface RunningRequester extends RunningServer {
  /** Stops accepting, then closes the queue and the idempotency store. */
  stop(): Promise<void>;
}

export async function runRequesterServer(
  config: CountersignConfig,
  overrides: RequesterServiceOverrides = {},
): Promise<RunningRequester> {
  const service = await createRequesterServiceFromConfig(config, overrides);
  let server: RunningServer;
  try {
    server = await startHttpServer(service.app, {
      host: config.requester.host,
      port: config.requester.port,
    });
  } catch (err) {
    await service.close();
    throw err;
  }
  service.logger.info(
    { url: server.url, mode: config.mode, kid: service.signer.kid, iss: config.requester.id },
    'requester listening',
  );
  return {
    ...server,
    stop: async () => {
      await server.close();
      await service.close();
    },
  };
}
