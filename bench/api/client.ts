// A bare HTTPS client for the Kubernetes REST API: keep-alive agents (one socket per simulated
// client), bearer token, the cluster CA verified, and watch streams timestamped as bytes arrive.
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';

export interface Response {
  status: number;
  body: string;
  /** performance.now() when the request was handed to the socket layer and when the body ended. */
  start: number;
  end: number;
}

export class ApiClient {
  constructor(
    readonly host: string,
    readonly port: number,
    private readonly ca: string,
    private readonly token: string,
  ) {}

  /** One keep-alive connection: what a single client (kubectl, an informer) would hold. */
  agent(maxSockets = 1): Agent {
    return new Agent({ keepAlive: true, maxSockets, ca: this.ca });
  }

  request(agent: Agent, method: string, path: string, opts: { body?: string; contentType?: string; accept?: string } = {}): Promise<Response> {
    const start = performance.now();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { Authorization: `Bearer ${this.token}`, Accept: opts.accept ?? 'application/json' };
      if (opts.body !== undefined) {
        headers['Content-Type'] = opts.contentType ?? 'application/json';
        headers['Content-Length'] = Buffer.byteLength(opts.body);
      }
      const req = request({ host: this.host, port: this.port, method, path, agent, ca: this.ca, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), start, end: performance.now() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  /**
   * Opens a watch on its own connection. `onEvent` gets each frame's type, its object's
   * resourceVersion and the arrival time of the chunk that completed the frame; the frame is
   * not JSON-parsed, so 100 watchers in this process add little delay to each other.
   */
  watch(path: string, onEvent: (type: string, rv: number, arrived: number) => void): Promise<{ close(): void }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, method: 'GET', path, agent: false, ca: this.ca, headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' } },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
            res.resume();
            return;
          }
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            const arrived = performance.now();
            pending += chunk;
            let nl: number;
            while ((nl = pending.indexOf('\n')) >= 0) {
              const line = pending.slice(0, nl);
              pending = pending.slice(nl + 1);
              const type = /^\{"type":"([A-Z]+)"/.exec(line)?.[1] ?? 'UNKNOWN';
              const rvAt = line.indexOf('"resourceVersion":"');
              const rv = rvAt >= 0 ? parseInt(line.slice(rvAt + 19), 10) : NaN;
              onEvent(type, rv, arrived);
            }
          });
          res.on('error', () => {});
          resolve({ close: () => req.destroy() });
        },
      );
      req.on('error', (err) => {
        // Destroying the request on close also lands here; only a failure before the stream opened matters.
        reject(err);
      });
      req.end();
    });
  }
}
