// A small Kubernetes REST client over HTTPS from a kubeconfig: what the node agent and the DNS
// server use against Portico's API or any real API server. JSON only; watches are read as
// newline-delimited frames from the chunked response.
import { request as httpsRequest, Agent } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYAML } from 'yaml';
import type { KubeObject } from '../registry/kinds/meta.js';
import { StatusError, type Status, type StatusReason } from '../util/errors.js';
import { ListWatchInformer, type ListWatcher, type WatchEventOf } from './informer.js';

export interface ClusterAccess {
  server: string;
  ca?: string;
  token?: string;
  cert?: string;
  key?: string;
  insecureSkipTLSVerify?: boolean;
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{ name: string; user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string; 'client-certificate'?: string; 'client-key'?: string } }>;
}

/** Reads the current context of a kubeconfig file. */
export function loadKubeconfig(path: string): ClusterAccess {
  const kc = parseYAML(readFileSync(path, 'utf8')) as KubeconfigFile;
  const base = dirname(resolve(path));
  const ctxName = kc['current-context'];
  const ctx = kc.contexts?.find((c) => c.name === ctxName)?.context ?? kc.contexts?.[0]?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: no context`);
  const cluster = kc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = kc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster?.server) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" has no server`);
  const fileOrData = (data?: string, file?: string) => (data ? Buffer.from(data, 'base64').toString('utf8') : file ? readFileSync(resolve(base, file), 'utf8') : undefined);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: fileOrData(cluster['certificate-authority-data'], cluster['certificate-authority']),
    token: user.token,
    cert: fileOrData(user['client-certificate-data'], user['client-certificate']),
    key: fileOrData(user['client-key-data'], user['client-key']),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'],
  };
}

export class KubeClient {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(readonly access: ClusterAccess) {
    this.url = new URL(access.server);
    this.agent = new Agent({ keepAlive: true, ca: access.ca, cert: access.cert, key: access.key, rejectUnauthorized: !access.insecureSkipTLSVerify, maxSockets: 64 });
  }

  private raw(method: string, path: string, body: string | undefined, headers: Record<string, string>) {
    const isHttps = this.url.protocol === 'https:';
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (this.access.token) h.Authorization = `Bearer ${this.access.token}`;
    if (body !== undefined) h['Content-Length'] = String(Buffer.byteLength(body));
    const opts = { method, hostname: this.url.hostname.replace(/^\[|\]$/g, ''), port: this.url.port || (isHttps ? 443 : 80), path, headers: h, ...(isHttps ? { agent: this.agent } : {}) };
    return isHttps ? httpsRequest(opts) : httpRequest(opts);
  }

  /** One request; a non-2xx answer throws a StatusError carrying the server's Status. */
  async request<R = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<R> {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise<R>((resolvePromise, reject) => {
      const req = this.raw(method, path, text, text !== undefined ? { 'Content-Type': contentType } : {});
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = out ? JSON.parse(out) : undefined;
          } catch {
            parsed = undefined;
          }
          if (code >= 200 && code < 300) return resolvePromise(parsed as R);
          const st = parsed as Partial<Status> | undefined;
          reject(new StatusError(code, (st?.reason || 'InternalError') as StatusReason, st?.message ?? `HTTP ${code}: ${out.slice(0, 200)}`, st?.details));
        });
      });
      req.end(text);
    });
  }

  /** Streams a watch; returns a handle to stop it. */
  watch<T>(path: string, onEvent: (ev: WatchEventOf<T>) => void, done: (err?: Error) => void): { stop(): void } {
    let finished = false;
    const finish = (err?: Error) => {
      if (!finished) {
        finished = true;
        done(err);
      }
    };
    const req = this.raw('GET', path, undefined, {});
    req.on('error', (e) => finish(e));
    req.on('response', (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let st: Partial<Status> = {};
          try {
            st = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<Status>;
          } catch {
            // not a Status
          }
          if (res.statusCode === 410) onEvent({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: st.message } as unknown as T });
          finish(new StatusError(res.statusCode ?? 500, (st.reason || 'InternalError') as StatusReason, st.message ?? `HTTP ${res.statusCode}`));
        });
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            onEvent(JSON.parse(line) as WatchEventOf<T>);
          } catch (e) {
            finish(e as Error);
            req.destroy();
            return;
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', (e) => finish(e));
    });
    req.end();
    return {
      stop() {
        finish();
        req.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Collection path of a kind: `/api/v1/services`, `/apis/discovery.k8s.io/v1/endpointslices`, optionally in a namespace. */
export function collectionPath(group: string, version: string, resource: string, namespace?: string): string {
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${resource}` : `${base}/${resource}`;
}

export function httpListWatcher<T extends KubeObject>(client: KubeClient, collection: string, query = ''): ListWatcher<T> {
  const q = (extra: string) => `${collection}?${[query, extra].filter(Boolean).join('&')}`;
  return {
    async list(transform) {
      const items: T[] = [];
      let cont = '';
      let rv = '';
      do {
        const page = await client.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>('GET', q(`limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`));
        for (const o of page.items) items.push(transform ? transform(o) : o);
        rv = page.metadata.resourceVersion;
        cont = page.metadata.continue ?? '';
      } while (cont);
      return { items, resourceVersion: rv };
    },
    async watch(resourceVersion, onEvent, done) {
      return client.watch<T>(q(`watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}&timeoutSeconds=${300 + Math.floor(Math.random() * 300)}`), onEvent, done);
    },
  };
}

export function httpInformer<T extends KubeObject>(client: KubeClient, collection: string, onError?: (err: Error) => void, query = '', transform?: (obj: T) => T): ListWatchInformer<T> {
  return new ListWatchInformer(httpListWatcher<T>(client, collection, query), onError, transform).start();
}
