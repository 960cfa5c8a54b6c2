import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { LogsNotFoundError, type ReadLogsOptions } from './runner.js';
import { containerLogsHandler } from './logserver.js';

describe('containerLogsHandler', () => {
  let srv: Server;
  let base = '';
  const calls: Array<[string, string, string | undefined, ReadLogsOptions]> = [];
  before(async () => {
    const handle = containerLogsHandler({
      async readLogs(ns, name, container, opts = {}) {
        calls.push([ns, name, container, opts]);
        if (name === 'missing') throw new LogsNotFoundError(`pods "${name}" not found`);
        return Readable.from([Buffer.from(`log of ${ns}/${name}/${container ?? '-'}${opts.previous ? ' (previous)' : ''}\n`)]);
      },
    });
    srv = createServer((req, res) => {
      if (!handle(req, res)) res.writeHead(404).end('not mine\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => srv.close(() => r())));

  const rows: Array<[string, string, number, RegExp]> = [
    ['a container log', '/containerLogs/shop/web-0/app', 200, /^log of shop\/web-0\/app\n$/],
    ['previous=true is passed on', '/containerLogs/shop/web-0/app?previous=true', 200, /\(previous\)/],
    ['the container may be left out', '/containerLogs/shop/web-0', 200, /^log of shop\/web-0\/-\n$/],
    ['an unknown pod is 404 with the reason', '/containerLogs/shop/missing/app', 404, /pods "missing" not found/],
    ['other paths are left to the next handler', '/healthz', 404, /not mine/],
  ];
  for (const [why, path, code, body] of rows) {
    it(why, async () => {
      const r = await fetch(base + path);
      assert.equal(r.status, code);
      assert.match(await r.text(), body);
    });
  }
  it('follow=true asks for a followed stream', async () => {
    await (await fetch(`${base}/containerLogs/a/b/c?follow=true`)).text();
    assert.equal(calls.at(-1)?.[3].follow, true);
  });
});
