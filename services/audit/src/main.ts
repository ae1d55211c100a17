// Composition root of the live audit consumer process: reads env, wires adapters, audits until
// SIGINT/SIGTERM, prints findings as they come and the summary at stop.
// Exit: 0 clean, 3 findings (when audit.failOnFindings), 2 bad configuration, 1 failure.
import {
  ConfigError,
  errorCodeOf,
  loadConfig,
  type CountersignConfig,
} from '@countersign/contracts';
import { startProcessMetrics } from '@countersign/observability';
import { startTracingFromConfig } from '@countersign/observability/sdk';
import { formatFinding, renderText } from './index.ts';
import { createAuditFromConfig } from './wiring.ts';

async function main(): Promise<number> {
  let config: CountersignConfig;
  try {
    config = loadConfig(process.env, 'audit');
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues)
        process.stderr.write(`countersign audit: ${i.path}: ${i.message}\n`);
      return 2;
    }
    throw err;
  }
  const { observability } = config;
  const tracing = startTracingFromConfig(observability, 'countersign-audit');
  const { metrics, server: metricsServer } = await startProcessMetrics(observability, 'audit');
  if (metricsServer) process.stderr.write(`countersign audit: metrics on ${metricsServer.url}\n`);
  const runtime = createAuditFromConfig(config, { metrics });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  process.stderr.write(`countersign audit: live (${config.mode}), stop with SIGINT/SIGTERM\n`);
  try {
    const report = await runtime.live({
      signal: controller.signal,
      onFinding: (f) => process.stdout.write(`${formatFinding(f)}\n`),
      // A full disk stalls the audit (it retries), it does not end it: say so on each attempt.
      onStateError: (err, attempt, retryInMs) =>
        process.stderr.write(
          `countersign audit: ${err instanceof Error ? err.message : String(err)} (attempt ${attempt}, retrying in ${retryInMs} ms)\n`,
        ),
    });
    process.stdout.write(renderText(report));
    return report.clean || !runtime.failOnFindings ? 0 : 3;
  } finally {
    await runtime.close();
    await metricsServer?.close();
    await tracing?.shutdown();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = errorCodeOf(err);
    process.stderr.write(
      `countersign audit: ${code ? `${code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
