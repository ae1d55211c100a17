// @countersign/cli: the `countersign` command's building blocks (the demo runner is reusable).
export { runDemo } from './demo/run-demo.ts';
export type { DemoOptions, DemoProgress } from './demo/run-demo.ts';
export type { DemoSummary, Expectation, OutcomeCounts } from './demo/summary.ts';
export { renderSummary } from './demo/render.ts';
export { demoOrders, DEMO_ACCOUNTS, DEMO_SYMBOLS, DEMO_MAX_NOTIONAL } from './demo/workload.ts';
export { prepareDemo, demoPolicy } from './demo/prepare.ts';
export { buildBadApples, tamperPayload, OVER_LIMIT_ORDER } from './demo/bad-apples.ts';
export { keysRotateCommand, keysJwksCommand } from './commands/keys.ts';
export { initDataDir, ensureDataDirConfig } from './init/init-data-dir.ts';
export type { InitOptions, InitResult } from './init/init-data-dir.ts';
