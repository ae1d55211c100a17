// Child process of gateway-restart.test.ts: a real embedded gateway (role lock, queue, nonce
// store, exchange, bus on the data directory in COUNTERSIGN_DATA_DIR) whose nonce store holds
// every request forever at a chosen point, so the parent can SIGKILL it mid-batch
// deterministically. Odd requests hang right after their claim (nothing placed), even ones in
// their complete() (the order filled, no receipt); with HOLD_AT=complete every request is held
// in its complete(). Each hold is reported on stdout.
import { embeddedPaths, loadConfig } from '@countersign/contracts';
import { createSqliteNonceStore, type NonceStore } from '@countersign/replay-guard';
import { createGatewayFromConfig, createWorker, silentLogger } from '@countersign/exchange-gateway';

const config = loadConfig(process.env, 'gateway');
const real = createSqliteNonceStore({ path: embeddedPaths(config.dataDir).nonceDb });
const never = new Promise<never>(() => undefined);
const isRequest = (key: string) => !key.startsWith('msg#') && !key.startsWith('res#');
const allInComplete = process.env.HOLD_AT === 'complete';
let claims = 0;
const holding: NonceStore = {
  ordered: true,
  get: (k) => real.get(k),
  head: (s) => real.head(s),
  async claim(key, o) {
    const result = await real.claim(key, o);
    if (!isRequest(key) || !result.claimed) return result;
    claims += 1;
    if (allInComplete || claims % 2 === 0) return result; // this one goes on to the exchange, then hangs below
    process.stdout.write(`hold claimed ${key}\n`);
    return never;
  },
  complete(key, o) {
    if (!isRequest(key)) return real.complete(key, o);
    process.stdout.write(`hold placed ${key}\n`);
    return never;
  },
};
const gateway = await createGatewayFromConfig(config, {
  exclusive: true,
  nonceStore: holding,
  logger: silentLogger,
});
process.stdout.write('ready\n');
await createWorker({
  queue: gateway.queue,
  processor: gateway.processor,
  concurrency: 8,
  waitMs: 200,
  visibilityTimeoutSec: config.queue.visibilityTimeoutSec,
  heartbeat: false,
}).run(); // until SIGKILL
