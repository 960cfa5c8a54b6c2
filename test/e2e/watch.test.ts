// `kubectl get -w` with Table-encoded watch events: additions, changes and deletions show up as rows;
// `kubectl get svc NAME -w` starts with the object.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, request, spawnKubectl, startPortico, lines, type KubectlStream, type Portico } from './harness.js';

after(cleanup);

let p: Portico;
const streams: KubectlStream[] = [];
after(async () => {
  for (const s of streams) await s.stop();
});

before(async () => {
  p = await startPortico();
});

function watch(args: string[]): KubectlStream {
  const s = spawnKubectl(p, args);
  streams.push(s);
  return s;
}

async function createSvc(ns: string, name: string, port: number): Promise<void> {
  const r = await request(p, 'POST', `/api/v1/namespaces/${ns}/services`, { body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port }] } } });
  assert.equal(r.status, 201, r.body);
}

async function setPort(ns: string, name: string, port: number): Promise<void> {
  const r = await request(p, 'PATCH', `/api/v1/namespaces/${ns}/services/${name}`, {
    body: { spec: { ports: [{ port }] } },
    headers: { 'Content-Type': 'application/merge-patch+json' },
  });
  assert.equal(r.status, 200, r.body);
}

async function deleteSvc(ns: string, name: string): Promise<void> {
  const r = await request(p, 'DELETE', `/api/v1/namespaces/${ns}/services/${name}`);
  assert.equal(r.status, 200, r.body);
}

const has = (re: RegExp) => (out: string) => re.test(out);

/** Rows as whitespace-split cells, header excluded. */
function rows(out: string): string[][] {
  return lines(out)
    .slice(1)
    .map((l) => l.trim().split(/\s+/));
}

describe('kubectl get -w', () => {
  it('--output-watch-events shows ADDED, MODIFIED and DELETED rows in order', async () => {
    await createNamespace(p, 'w1');
    await createSvc('w1', 'one', 80);
    const s = watch(['get', 'svc', '-w', '--output-watch-events', '-n', 'w1']);
    await s.waitFor(has(/^ADDED\s+one\s/m), 'the initial ADDED row');
    assert.match(lines(s.output())[0] ?? '', /^EVENT\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    await createSvc('w1', 'two', 80);
    await s.waitFor(has(/^ADDED\s+two\s+ClusterIP\s+\S+\s+<none>\s+80\/TCP\s/m), 'the addition');
    await setPort('w1', 'two', 81);
    await s.waitFor(has(/^MODIFIED\s+two\s+ClusterIP\s+\S+\s+<none>\s+81\/TCP\s/m), 'the change');
    await deleteSvc('w1', 'two');
    await s.waitFor(has(/^DELETED\s+two\s/m), 'the deletion');
    const got = rows(s.output()).map((c) => `${c[0]} ${c[1]} ${c[5]}`);
    assert.deepEqual(got, ['ADDED one 80/TCP', 'ADDED two 80/TCP', 'MODIFIED two 81/TCP', 'DELETED two 81/TCP'], s.output());
    assert.equal(lines(s.output()).filter((l) => l.startsWith('EVENT')).length, 1, `one header only:\n${s.output()}`);
  });

  it('without --output-watch-events prints a row for the addition, the change and the deletion', async () => {
    await createNamespace(p, 'w2');
    await createSvc('w2', 'first', 8080);
    const s = watch(['get', 'svc', '-w', '-n', 'w2']);
    await s.waitFor(has(/^first\s+ClusterIP\s/m), 'the initial row');
    assert.match(lines(s.output())[0] ?? '', /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    await createSvc('w2', 'second', 53);
    await s.waitFor(has(/^second\s+ClusterIP\s+\S+\s+<none>\s+53\/TCP\s/m), 'the addition');
    await setPort('w2', 'second', 54);
    await s.waitFor(has(/^second\s+ClusterIP\s+\S+\s+<none>\s+54\/TCP\s/m), 'the change');
    await deleteSvc('w2', 'second');
    await s.waitFor((out) => rows(out).filter((c) => c[0] === 'second').length === 3, 'the deletion row');
    assert.deepEqual(
      rows(s.output()).map((c) => `${c[0]} ${c[4]}`),
      ['first 8080/TCP', 'second 53/TCP', 'second 54/TCP', 'second 54/TCP'],
      s.output(),
    );
  });

  it('kubectl get svc NAME -w starts with the object and follows only it', async () => {
    await createNamespace(p, 'w3');
    await createSvc('w3', 'target', 80);
    await createSvc('w3', 'other', 80);
    const s = watch(['get', 'svc', 'target', '-w', '-n', 'w3']);
    await s.waitFor(has(/^target\s+ClusterIP\s+\S+\s+<none>\s+80\/TCP\s/m), 'the object first');
    assert.match(lines(s.output())[0] ?? '', /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    await setPort('w3', 'other', 90);
    await setPort('w3', 'target', 81);
    await s.waitFor(has(/^target\s+ClusterIP\s+\S+\s+<none>\s+81\/TCP\s/m), 'the change of the object');
    assert.deepEqual(
      rows(s.output()).map((c) => `${c[0]} ${c[4]}`),
      ['target 80/TCP', 'target 81/TCP'],
      s.output(),
    );
  });
});
