// Runs the HTTP app on @hono/node-server's request listener, behind the app's submit lane when
// it has one (http-lane.ts). Port 0 picks a free port (tests, benchmarks).
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { laneOf } from './http-lane.ts';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export function startHttpServer(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Env/Schema of a Hono app
  app: Hono<any, any, any>,
  { host, port }: { host: string; port: number },
): Promise<RunningServer> {
  const listener = getRequestListener(app.fetch, { hostname: host });
  const lane = laneOf(app);
  const server = createServer(
    lane ? (req, res) => lane(req, res, () => void listener(req, res)) : listener,
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const info = server.address() as AddressInfo;
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${shown}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            // Keep-alive clients would otherwise hold close() open.
            server.closeAllConnections();
          }),
      });
    });
  });
}
