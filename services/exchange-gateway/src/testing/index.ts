// Test support for the gateway (fakes and a harness). Not used by any runtime.
export { fakeClock, fakeNonceStore, fakeBus } from './fakes.ts';
export type { FakeClock, FakeNonceStore, FakeBus } from './fakes.ts';
export {
  createHarness,
  newEs256Signer,
  defaultPolicy,
  GATEWAY_ID,
  REQUESTER_ID,
  orderIdOf,
} from './harness.ts';
export type { Harness, HarnessOptions } from './harness.ts';
export { orderToken, delivery } from './orders.ts';
