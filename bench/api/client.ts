// A bare HTTPS client for the Kubernetes REST API: keep-alive agents (one socket per simulated
// client), bearer token, the cluster CA verified, and watch streams timestamped as bytes arrive.
import { Agent, request } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
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
    readonly ca: string,
    readonly token: string,
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

/** One answer read by a `RawConnection`: the status and the undecoded body. */
export interface RawResponse {
  status: number;
  body: Buffer;
  start: number;
  end: number;
}

/**
 * One keep-alive HTTPS connection that sends preformatted HTTP/1.1 requests, one at a time, and
 * reads each answer's status line, Content-Length and body, nothing more. The create phases use
 * it instead of node:https: the client shares this 2-core machine with the server, and node's
 * HTTP client (request objects, header parsing, events) cost as much CPU per create as half the
 * server's HTTP handling. TLS (certificate checked against the cluster CA) and HTTP are real.
 */
export class RawConnection {
  private pending: { resolve: (r: RawResponse) => void; reject: (err: Error) => void; start: number } | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private failure: Error | undefined;

  private constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(host: string, port: number, ca: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host, port, ca, servername: isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] }, () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** The bytes of one request: head and body, ready to write. */
  static format(api: { host: string; port: number }, token: string, method: string, path: string, body: string, contentType = 'application/json'): Buffer {
    const b = Buffer.from(body);
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${api.host}:${api.port}\r\nAuthorization: Bearer ${token}\r\n` +
      `Accept: application/json\r\nContent-Type: ${contentType}\r\nContent-Length: ${b.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), b]);
  }

  send(request: Buffer): Promise<RawResponse> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, start: performance.now() };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.size);
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buf.toString('latin1', 0, headEnd);
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!status || !length) return this.fail(new Error(`unexpected response head: ${head.slice(0, 200)}`));
    const total = headEnd + 4 + Number(length[1]);
    if (buf.length < total) {
      this.chunks = [buf];
      return;
    }
    if (buf.length > total) return this.fail(new Error('bytes after the response: the server answered more than was asked'));
    this.chunks = [];
    this.size = 0;
    const p = this.pending;
    this.pending = undefined;
    p?.resolve({ status: Number(status[1]), body: buf.subarray(headEnd + 4), start: p.start, end: performance.now() });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }
}
