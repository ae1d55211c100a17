// @countersign/exchange-gateway: verify locally, refuse replays, execute once, receipt everything.
// The public surface: build a gateway from configuration (any adapter can be overridden), run it
// (`createWorker`, `runGateway`; the Lambda handler is `@countersign/exchange-gateway/lambda`),
// and the paper exchange. The pipeline's parts (decision table, executor, chain writer,
// receipts, checkpoints) are internal.
export { createGatewayFromConfig } from './wiring.ts';
export type { Gateway, GatewayClients, GatewayOverrides } from './wiring.ts';
export { createWorker } from './worker.ts';
export type { Worker, WorkerCounters, WorkerOptions } from './worker.ts';
export { runGateway } from './main.ts';
export type { RunGatewayOptions } from './main.ts';
export type { Processor, ProcessResult, RequestVerifier } from './pipeline.ts';
export { createPaperExchange } from './paper-exchange.ts';
export type { PaperExchange, PaperExchangeOptions } from './paper-exchange.ts';
export { silentLogger } from './ports.ts';
export type { CheckpointStore, Exchange, ExchangeOrder, ExecResult, Logger } from './ports.ts';
