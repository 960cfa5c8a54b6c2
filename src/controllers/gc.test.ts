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

  const refBlocking = (name: string, uid: string): OwnerReference => ({ ...ref(name, uid), controller: true, blockOwnerDeletion: true });
  const serviceExists = async (name: string) => api.services.get('default', name).then(() => true, (e: unknown) => (e instanceof NotFoundError ? false : Promise.reject(e)));

  it('Orphan: the owner waits on the orphan finalizer, dependents lose its reference and stay, then the owner goes', async () => {
    const a = await api.services.create('default', service('a'));
    const b = await api.services.create('default', service('b'));
    const uid = a.metadata!.uid!;
    await api.slices.create('default', slice('only-a', [refBlocking('a', uid)]));
    await api.slices.create('default', slice('a-and-b', [ref('a', uid), ref('b', b.metadata!.uid!)]));
    await eventually(async () => assert.equal(informers.get('EndpointSlice').list().length, 2));
    const { object, deleted } = await api.services.delete('default', 'a', { propagationPolicy: 'Orphan' });
    assert.equal(deleted, false);
    assert.ok(object.metadata?.deletionTimestamp);
    assert.deepEqual(object.metadata?.finalizers, ['orphan']);
    await eventually(async () => assert.equal(await serviceExists('a'), false));
    await gc.whenIdle();
    assert.equal((await api.slices.get('default', 'only-a')).metadata?.ownerReferences, undefined);
    assert.deepEqual((await api.slices.get('default', 'a-and-b')).metadata?.ownerReferences?.map((r) => r.name), ['b']);
  });

  it('Foreground: dependents are deleted first, the owner only once no blocking dependent is left', async () => {
    const a = await api.services.create('default', service('a'));
    const uid = a.metadata!.uid!;
    // A finalizer of someone else's holds the dependent in deletion: the owner must wait for it.
    await api.slices.create('default', { ...slice('held', [refBlocking('a', uid)]), metadata: { name: 'held', ownerReferences: [refBlocking('a', uid)], finalizers: ['example.com/hold'] } });
    await api.slices.create('default', slice('plain', [refBlocking('a', uid)]));
    await eventually(async () => assert.equal(informers.get('EndpointSlice').list().length, 2));
    const { object } = await api.services.delete('default', 'a', { propagationPolicy: 'Foreground' });
    assert.deepEqual(object.metadata?.finalizers, ['foregroundDeletion']);
    await eventually(async () => assert.equal(await exists('plain'), false));
    await eventually(async () => assert.ok((await api.slices.get('default', 'held')).metadata?.deletionTimestamp));
    await gc.whenIdle();
    const owner = await api.services.get('default', 'a');
    assert.deepEqual([Boolean(owner.metadata?.deletionTimestamp), owner.metadata?.finalizers], [true, ['foregroundDeletion']]);
    await api.slices.guaranteedUpdate('default', 'held', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    await eventually(async () => assert.equal(await serviceExists('a'), false));
    assert.equal(await exists('held'), false);
  });

  it('Foreground with no dependents: the owner goes at once', async () => {
    await api.services.create('default', service('lonely'));
    await api.services.delete('default', 'lonely', { propagationPolicy: 'Foreground' });
    await eventually(async () => assert.equal(await serviceExists('lonely'), false));
  });

  it('Orphan on a kind the collector does not watch as an owner acts as Background (no finalizer nobody removes)', async () => {
    await api.slices.create('default', slice('leaf', []));
    const { deleted } = await api.slices.delete('default', 'leaf', { propagationPolicy: 'Orphan' });
    assert.equal(deleted, true);
    assert.equal(await exists('leaf'), false);
  });
});
