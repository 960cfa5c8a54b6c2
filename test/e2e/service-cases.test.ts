// Issue 3's validation table, replayed end to end: every row of src/registry/service/cases.ts goes
// through the real API (raw HTTPS, checking the Status causes field by field) and through the real
// `kubectl apply` (checking the user sees the field and the message).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, kubectl, request, startPortico, writeManifest, type Portico, type StatusBody } from './harness.js';
import { validationCases, type ValidationCase, type Manifest } from '../../src/registry/service/cases.js';

after(cleanup);

let p: Portico;
before(async () => {
  p = await startPortico(['--service-cidr', '198.18.0.0/16']);
});

const pathOf = (m: Manifest) => `/api/v1/namespaces/default/${m.kind === 'Endpoints' ? 'endpoints' : 'services'}`;
const nameOf = (m: Manifest) => String(m.metadata.name);

async function remove(m: Manifest): Promise<void> {
  await request(p, 'DELETE', `${pathOf(m)}/${nameOf(m)}`);
}

function checkStatus(c: ValidationCase, code: number, body: string): void {
  if (c.expect === 'ok') {
    assert.ok(code === 201 || code === 200, `${c.name}: expected success, got ${code}: ${body}`);
    return;
  }
  const st = JSON.parse(body) as Omit<StatusBody, 'details'> & { details?: { causes?: Array<{ field?: string; reason?: string; message?: string }> } };
  assert.equal(st.kind, 'Status', body);
  if (c.expect === 'allocator') {
    assert.equal(code, 422, `${c.name}: ${body}`);
    assert.ok(String(st.message).includes(c.allocatorMessage ?? ''), `${c.name}: message ${st.message} lacks ${c.allocatorMessage}`);
    return;
  }
  assert.equal(code, 422, `${c.name}: expected 422 Invalid, got ${code}: ${body}`);
  assert.equal(st.reason, 'Invalid');
  const causes = st.details?.causes ?? [];
  for (const e of c.expect) {
    const hit = causes.find((x) => x.field === e.field && x.reason === e.type && String(x.message ?? '').includes(e.message));
    assert.ok(hit, `${c.name}: no cause ${e.field} ${e.type} "${e.message}" in ${JSON.stringify(causes)}`);
  }
  assert.equal(causes.length, c.expect.length, `${c.name}: causes ${JSON.stringify(causes)}`);
}

describe('issue 3 validation table through the API', () => {
  for (const c of validationCases) {
    it(c.name, async () => {
      if (c.kind === 'ServiceUpdate') {
        const old = c.old!;
        const created = await request(p, 'POST', pathOf(old), { body: JSON.stringify(old) });
        assert.equal(created.status, 201, `create of old: ${created.body}`);
        try {
          const live = created.json<Manifest>();
          const next = structuredClone(c.manifest);
          next.metadata = { ...next.metadata, resourceVersion: (live.metadata as { resourceVersion: string }).resourceVersion };
          const r = await request(p, 'PUT', `${pathOf(old)}/${nameOf(old)}`, { body: JSON.stringify(next) });
          checkStatus(c, r.status, r.body);
        } finally {
          await remove(old);
        }
        return;
      }
      const r = await request(p, 'POST', `${pathOf(c.manifest)}?fieldValidation=Strict`, { body: JSON.stringify(c.manifest) });
      try {
        checkStatus(c, r.status, r.body);
      } finally {
        if (r.status === 201) await remove(c.manifest);
      }
    });
  }
});

describe('issue 3 validation table through kubectl apply', () => {
  for (const c of validationCases) {
    it(c.name, async () => {
      const target = c.kind === 'ServiceUpdate' ? c.manifest : c.manifest;
      if (c.kind === 'ServiceUpdate') {
        const oldFile = await writeManifest(p, `old-${nameOf(c.old!)}.json`, c.old!);
        const first = await kubectl(p, ['apply', '-f', oldFile]);
        assert.equal(first.code, 0, first.stderr);
      }
      const file = await writeManifest(p, `case-${nameOf(target)}.json`, target);
      const r = await kubectl(p, ['apply', '-f', file]);
      try {
        if (c.expect === 'ok') {
          assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
          return;
        }
        assert.notEqual(r.code, 0, `${c.name}: kubectl accepted it: ${r.stdout}`);
        const want = c.expect === 'allocator' ? [c.allocatorMessage ?? ''] : c.expect.map((e) => `${e.field}: ${e.message}`);
        for (const w of want) {
          // kubectl prints the server's message; field and message text must reach the user.
          const [fieldPart, ...rest] = w.split(': ');
          assert.ok(r.stderr.includes(fieldPart!), `${c.name}: stderr lacks "${fieldPart}": ${r.stderr}`);
          assert.ok(r.stderr.includes(rest.join(': ')), `${c.name}: stderr lacks "${rest.join(': ')}": ${r.stderr}`);
        }
      } finally {
        await remove(target);
      }
    });
  }
});
