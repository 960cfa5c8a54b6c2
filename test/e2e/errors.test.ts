// Errors as Kubernetes Status objects over raw HTTPS: 401, 413, 400 (JSON and YAML), 404, 405, and
// the server keeps serving after each of them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, request, startPortico, type HttpResult, type Portico, type StatusBody } from './harness.js';

after(cleanup);

let p: Portico;
before(async () => {
  p = await startPortico();
});

function assertStatus(r: HttpResult, code: number, reason: string): StatusBody {
  assert.equal(r.status, code, `HTTP status; body: ${r.body}`);
  const ct = String(r.headers['content-type'] ?? '');
  assert.match(ct, /^application\/json/, 'a Status is JSON');
  const s = r.json<StatusBody>();
  assert.equal(s.kind, 'Status', r.body);
  assert.equal(s.apiVersion, 'v1', r.body);
  assert.equal(s.status, 'Failure', r.body);
  assert.equal(s.reason, reason, r.body);
  assert.equal(s.code, code, r.body);
  assert.equal(typeof s.message, 'string', r.body);
  assert.ok((s.message as string).length > 0, r.body);
  return s;
}

async function stillServing(): Promise<void> {
  const r = await request(p, 'GET', '/api/v1/namespaces/default');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json<{ metadata: { name: string } }>().metadata.name, 'default');
}

const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }] } });

describe('authentication', () => {
  it('no token: 401 Unauthorized Status', async () => {
    const s = assertStatus(await request(p, 'GET', '/api/v1/namespaces', { token: null }), 401, 'Unauthorized');
    assert.equal(s.message, 'Unauthorized');
  });
  it('wrong token: 401 Unauthorized Status', async () => {
    assertStatus(await request(p, 'GET', '/api/v1/namespaces', { token: 'not-the-token' }), 401, 'Unauthorized');
  });
  it('wrong token of the right length: 401', async () => {
    const wrong = p.token.slice(0, -1) + (p.token.endsWith('A') ? 'B' : 'A');
    assertStatus(await request(p, 'GET', '/api/v1/namespaces', { token: wrong }), 401, 'Unauthorized');
  });
  it('no token on a write: 401 and nothing created', async () => {
    assertStatus(await request(p, 'POST', '/api/v1/namespaces/default/services', { token: null, body: svc('anon') }), 401, 'Unauthorized');
    const r = await request(p, 'GET', '/api/v1/namespaces/default/services/anon');
    assert.equal(r.status, 404, r.body);
  });
  it('the right token: 200', async () => {
    await stillServing();
  });
});

describe('request bodies', () => {
  it('a body over 3 MiB: 413 RequestEntityTooLarge, object not created', async () => {
    const big = svc('too-big') as { metadata: Record<string, unknown> };
    big.metadata.annotations = { filler: 'x'.repeat(3 * 1024 * 1024 + 1) };
    assertStatus(await request(p, 'POST', '/api/v1/namespaces/default/services', { body: big }), 413, 'RequestEntityTooLarge');
    const r = await request(p, 'GET', '/api/v1/namespaces/default/services/too-big');
    assert.equal(r.status, 404, r.body);
    await stillServing();
  });

  it('a chunked body (no Content-Length) over 3 MiB: 413 too', async () => {
    const big = svc('too-big-chunked') as { metadata: Record<string, unknown> };
    big.metadata.annotations = { filler: 'x'.repeat(3 * 1024 * 1024 + 1) };
    assertStatus(await request(p, 'POST', '/api/v1/namespaces/default/services', { body: big, headers: { 'Transfer-Encoding': 'chunked' } }), 413, 'RequestEntityTooLarge');
    const r = await request(p, 'GET', '/api/v1/namespaces/default/services/too-big-chunked');
    assert.equal(r.status, 404, r.body);
    await stillServing();
  });

  it('a body just under 3 MiB is not refused as too large', async () => {
    const base = JSON.stringify(svc('nearly-big')).length + 64;
    const body = svc('nearly-big') as { metadata: Record<string, unknown> };
    body.metadata.labels = { note: 'x' };
    body.metadata.annotations = { filler: 'x'.repeat(3 * 1024 * 1024 - base - 1024) };
    const r = await request(p, 'POST', '/api/v1/namespaces/default/services', { body });
    // kube-apiserver itself limits annotations to 256 KiB (422 Invalid); either way it is not 413.
    assert.ok(r.status === 201 || r.status === 422, `want 201 or 422, got ${r.status}: ${r.body.slice(0, 300)}`);
    await stillServing();
  });

  it('malformed JSON: 400 BadRequest, server still serving', async () => {
    assertStatus(
      await request(p, 'POST', '/api/v1/namespaces/default/services', { body: '{"apiVersion":"v1","kind":"Service",', headers: { 'Content-Type': 'application/json' } }),
      400,
      'BadRequest',
    );
    await stillServing();
  });

  it('malformed YAML: 400 BadRequest, server still serving', async () => {
    assertStatus(
      await request(p, 'POST', '/api/v1/namespaces/default/services', {
        body: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n  labels: {a: b\n',
        headers: { 'Content-Type': 'application/yaml' },
      }),
      400,
      'BadRequest',
    );
    await stillServing();
  });

  it('JSON that is not an object (an array): 400, server still serving', async () => {
    assertStatus(await request(p, 'POST', '/api/v1/namespaces/default/services', { body: '[1,2,3]' }), 400, 'BadRequest');
    await stillServing();
  });

  it('malformed patch body: 400 BadRequest', async () => {
    const c = await request(p, 'POST', '/api/v1/namespaces/default/services', { body: svc('patch-target') });
    assert.equal(c.status, 201, c.body);
    assertStatus(
      await request(p, 'PATCH', '/api/v1/namespaces/default/services/patch-target', { body: '{"metadata":', headers: { 'Content-Type': 'application/merge-patch+json' } }),
      400,
      'BadRequest',
    );
    await stillServing();
  });

  it('well-formed YAML is accepted (201)', async () => {
    const r = await request(p, 'POST', '/api/v1/namespaces/default/services', {
      body: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: from-yaml\nspec:\n  ports:\n  - port: 80\n',
      headers: { 'Content-Type': 'application/yaml' },
    });
    assert.equal(r.status, 201, r.body);
  });
});

describe('routing', () => {
  it('unknown resource: 404 NotFound Status', async () => {
    assertStatus(await request(p, 'GET', '/api/v1/namespaces/default/widgets'), 404, 'NotFound');
  });
  it('unknown group: 404 NotFound Status', async () => {
    assertStatus(await request(p, 'GET', '/apis/widgets.example.com/v1/widgets'), 404, 'NotFound');
  });
  it('missing object: 404 with kube message and details', async () => {
    const s = assertStatus(await request(p, 'GET', '/api/v1/namespaces/default/services/nope'), 404, 'NotFound');
    assert.equal(s.message, 'services "nope" not found');
    assert.equal(s.details?.name, 'nope');
    assert.equal(s.details?.kind, 'services');
  });
  it('wrong method on a collection (PUT): 405 MethodNotAllowed Status', async () => {
    assertStatus(await request(p, 'PUT', '/api/v1/namespaces/default/services', { body: svc('x') }), 405, 'MethodNotAllowed');
  });
  it('wrong method on an object (POST): 405 MethodNotAllowed Status', async () => {
    assertStatus(await request(p, 'POST', '/api/v1/namespaces/default/services/kubernetes', { body: svc('kubernetes') }), 405, 'MethodNotAllowed');
  });
  it('server is still serving after all of the above', async () => {
    await stillServing();
  });
});
