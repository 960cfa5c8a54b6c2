// Container logs over HTTP on kubelet's path, for the API server's `pods/log` to proxy to (or to
// call in-process through PodRunner.readLogs): GET /containerLogs/{namespace}/{pod}/{container}
// with `follow=true` and `previous=true`, as kubelet serves them. Plain text; 404 when the pod or
// container is unknown here. It carries no authentication: mount it only where the caller is trusted.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { LogsNotFoundError, type PodRunner } from './runner.js';

const truthy = (v: string | null) => v === 'true' || v === '1';

/** A request handler; returns false when the path is not a container-log path (so it can be chained). */
export function containerLogsHandler(runner: Pick<PodRunner, 'readLogs'>): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!m) return false;
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET' }).end();
      return true;
    }
    const [ns, pod, container] = [m[1]!, m[2]!, m[3]].map((x) => (x === undefined ? undefined : decodeURIComponent(x)));
    runner
      .readLogs(ns!, pod!, container, { follow: truthy(url.searchParams.get('follow')), previous: truthy(url.searchParams.get('previous')) })
      .then(async (stream) => {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
        res.flushHeaders();
        req.once('close', () => stream.destroy());
        await pipeline(stream, res).catch(() => undefined);
      })
      .catch((err: unknown) => {
        const code = err instanceof LogsNotFoundError ? 404 : 500;
        res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
      });
    return true;
  };
}
