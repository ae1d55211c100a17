// @countersign/sqlite/testing: helpers for the adapters' tests.
export { corruptPages } from './damage.ts';
