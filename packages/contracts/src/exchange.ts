// What an exchange says about an order, shared by the gateway (which executes and receipts it)
// and the audit (which reconciles receipts against it): one definition, so they cannot drift.
import type { Fill } from './claims.ts';

/** The settled result of placing (or looking up) an order. */
export type ExecResult =
  | { readonly status: 'FILLED'; readonly fills: readonly Fill[] }
  | { readonly status: 'REJECTED'; readonly reason: string };

/** An order as the exchange lists it, settled the way the gateway receipts it. */
export interface ListedOrder {
  readonly clientOrderId: string;
  readonly account: string;
  /** When the exchange took it (its clock, epoch ms; 0 = not recorded, orders of older files). */
  readonly placedAt: number;
  /** PENDING while an IOC/FOK is still matching. */
  readonly status: 'FILLED' | 'REJECTED' | 'PENDING';
  readonly fills: readonly Fill[];
  readonly reason?: string;
}
