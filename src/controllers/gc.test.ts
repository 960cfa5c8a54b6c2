// The garbage collector: dependents go when all their owners are gone, not before.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { OwnerReference } from '../registry/kinds/meta.js';
import { NotFoundError } from '../util/errors.js';
import { SharedInformers } from './informers.js';
import { GarbageCollector } from './gc.js';
import { eventually, service, silentLogger, testRegistry, type TestAPI } from './testing.js';

const slice = (name: string, owners: OwnerReference[]): EndpointSlice =>
  ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, ownerReferences: owners }, addressType: 'IPv4', endpoints: [] }) as EndpointSlice;
const ref = (name: string, uid: string): OwnerReference => ({ apiVersion: 'v1', kind: 'Service', name, uid });

describe('GarbageCollector', () => {
  let api: TestAPI;
  let informers: SharedInformers;
  let gc: GarbageCollector;
  beforeEach(async () => {
    api = await testRegistry();
    informers = new SharedInformers(api.registry);
    gc = new GarbageCollector(api.registry, informers, silentLogger);
    await gc.start();
  });
  afterEach(() => {
    gc.stop();
    informers.stop();
  });

  const exists = async (name: string) => api.slices.get('default', name).then(() => true, (e: unknown) => (e instanceof NotFoundError ? false : Promise.reject(e)));

  it('deletes a dependent when its owner is deleted, keeps one whose other owner remains', async () => {
    const a = await api.services.create('default', service('a'));
    const b = await api.services.create('default', service('b'));
    await api.slices.create('default', slice('only-a', [ref('a', a.metadata!.uid!)]));
    await api.slices.create('default', slice('a-and-b', [ref('a', a.metadata!.uid!), ref('b', b.metadata!.uid!)]));
    await api.slices.create('default', slice('unowned', []));
    await api.services.delete('default', 'a');
    await eventually(async () => assert.equal(await exists('only-a'), false));
    await gc.whenIdle();
    assert.deepEqual([await exists('a-and-b'), await exists('unowned')], [true, true]);
  });

  it('deletes a dependent whose owner uid belongs to an older object of the same name', async () => {
    await api.services.create('default', service('a'));
    await api.slices.create('default', slice('stale', [ref('a', 'not-the-current-uid')]));
    await eventually(async () => assert.equal(await exists('stale'), false));
  });

  it('keeps a dependent whose owner was created just before it (the live read settles it)', async () => {
    const a = await api.services.create('default', service('fresh'));
    await api.slices.create('default', slice('new', [ref('fresh', a.metadata!.uid!)]));
    await new Promise((r) => setTimeout(r, 30));
    await gc.whenIdle();
    assert.equal(await exists('new'), true);
  });

  it('deletes at start what was orphaned while it was not running', async () => {
    gc.stop();
    informers.stop();
    const a = await api.services.create('default', service('a'));
    await api.slices.create('default', slice('orphan', [ref('a', a.metadata!.uid!)]));
    await api.services.delete('default', 'a');
    informers = new SharedInformers(api.registry);
    gc = new GarbageCollector(api.registry, informers, silentLogger);
    await gc.start();
    await eventually(async () => assert.equal(await exists('orphan'), false));
  });
});
