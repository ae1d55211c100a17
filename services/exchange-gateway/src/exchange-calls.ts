// The two exchange calls the steps make, by the request's client order id
// (clientOrderIdOf(iss, jti)), under the configured deadline. A timeout is an answer here
// ("may have happened": the rules turn it into UNKNOWN, or a later try); any other error throws.
import { clientOrderIdOf } from '@countersign/contracts';
import type { RequestClaims } from '@countersign/contracts';
import type { OrderLookup, Placement } from './decide.ts';
import { exchangeTimeout, isExchangeTimeout } from './errors.ts';
import type { Exchange } from './ports.ts';

export interface ExchangeCalls {
  /** getOrder: found, absent, or no answer in time. */
  lookup(claims: RequestClaims): Promise<OrderLookup>;
  /** place (idempotent by client order id): the exchange's answer, or no answer in time. */
  place(claims: RequestClaims): Promise<Placement>;
}

/**
 * How long after place() is called the order may still leave for the exchange: the shorter of
 * our deadline (`timeoutMs`, which aborts the call) and the adapter's own; 0 when neither bounds
 * it, the adapter sending at once. The lease must outlast it (decide.ts, placeMarginMs).
 */
export function placeDeadlineOf(exchange: Exchange, timeoutMs?: number): number {
  const bounds = [timeoutMs, exchange.placeDeadlineMs].filter((b) => b !== undefined);
  return bounds.length === 0 ? 0 : Math.min(...bounds);
}

/** Runs `call` under a real-time deadline (an I/O bound, not a read of the injected clock). */
async function withDeadline<T>(
  clientOrderId: string,
  timeoutMs: number | undefined,
  call: (signal?: AbortSignal) => Promise<T>,
): Promise<T> {
  if (timeoutMs === undefined) return call();
  const signal = AbortSignal.timeout(timeoutMs);
  let stop = (): void => undefined;
  const expired = new Promise<never>((_, reject) => {
    const onAbort = () => reject(exchangeTimeout(clientOrderId));
    signal.addEventListener('abort', onAbort, { once: true });
    stop = () => signal.removeEventListener('abort', onAbort);
  });
  try {
    return await Promise.race([call(signal), expired]);
  } finally {
    stop();
  }
}

async function timeoutAsAnswer<T, A>(call: () => Promise<T>, answer: (v: T) => A, timedOut: A) {
  try {
    return answer(await call());
  } catch (err) {
    if (isExchangeTimeout(err)) return timedOut;
    throw err;
  }
}

export function createExchangeCalls(exchange: Exchange, timeoutMs?: number): ExchangeCalls {
  return {
    lookup(c) {
      const id = clientOrderIdOf(c.iss, c.jti);
      return timeoutAsAnswer(
        () => withDeadline(id, timeoutMs, (signal) => exchange.getOrder(id, signal)),
        (result): OrderLookup => (result ? { kind: 'found', result } : { kind: 'absent' }),
        { kind: 'timeout' },
      );
    },
    place(c) {
      const order = { clientOrderId: clientOrderIdOf(c.iss, c.jti), account: c.sub, txn: c.txn };
      return timeoutAsAnswer(
        () =>
          withDeadline(order.clientOrderId, timeoutMs, (signal) => exchange.place(order, signal)),
        (result): Placement => ({ kind: 'done', result }),
        { kind: 'timeout' },
      );
    },
  };
}
