import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../registry/kinds/pod.js';
import { computePodStatus, podPhase, type ContainerView } from './status.js';

const running = (name: string, ready: boolean): ContainerView => ({ name, image: 'img', state: { running: { startedAt: '2026-01-01T00:00:00Z' } }, restartCount: 0, ready, started: true });
const exited = (name: string, exitCode: number): ContainerView => ({ name, image: 'img', state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed' } }, restartCount: 0, ready: false, started: false });
const backoff = (name: string): ContainerView => ({ name, image: 'img', state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } }, restartCount: 2, ready: false, started: false });
const creating = (name: string): ContainerView => ({ name, image: 'img', state: { waiting: { reason: 'ContainerCreating' } }, restartCount: 0, ready: false, started: false });

describe('podPhase', () => {
  const rows: Array<[string, string | undefined, ContainerView[], string]> = [
    ['a container not started yet: Pending', 'Always', [running('a', true), creating('b')], 'Pending'],
    ['all running: Running', 'Always', [running('a', false)], 'Running'],
    ['crash-looping under Always: Running', 'Always', [backoff('a')], 'Running'],
    ['all exited 0 under Never: Succeeded', 'Never', [exited('a', 0)], 'Succeeded'],
    ['one failed under Never: Failed', 'Never', [exited('a', 0), exited('b', 1)], 'Failed'],
    ['all exited 0 under OnFailure: Succeeded', 'OnFailure', [exited('a', 0)], 'Succeeded'],
    ['one running, one done: Running', 'Never', [running('a', true), exited('b', 0)], 'Running'],
  ];
  for (const [why, policy, cs, want] of rows) it(why, () => assert.equal(podPhase(policy, cs), want));
});

describe('computePodStatus', () => {
  const pod = (conditions?: NonNullable<Pod['status']>['conditions']): Pod => ({ metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [], restartPolicy: 'Always' }, status: { conditions } }) as Pod;
  const cond = (s: ReturnType<typeof computePodStatus>, type: string) => s.conditions?.find((c) => c.type === type);

  it('a ready pod: Running, Ready and ContainersReady True, addresses set', () => {
    const s = computePodStatus(pod(), { podIP: '198.19.1.2', hostIP: '198.19.255.11', startTime: 'T0', containers: [running('a', true)] }, 'T1');
    assert.deepEqual([s.phase, cond(s, 'Ready')?.status, cond(s, 'ContainersReady')?.status, cond(s, 'PodScheduled')?.status, s.podIP, s.podIPs, s.hostIP, s.startTime], ['Running', 'True', 'True', 'True', '198.19.1.2', [{ ip: '198.19.1.2' }], '198.19.255.11', 'T0']);
  });
  it('an unready container makes Ready False and names it', () => {
    const s = computePodStatus(pod(), { containers: [running('a', true), running('b', false)] }, 'T1');
    assert.deepEqual([cond(s, 'Ready')?.status, cond(s, 'Ready')?.reason, cond(s, 'Ready')?.message], ['False', 'ContainersNotReady', 'containers with unready status: [b]']);
  });
  it('keeps lastTransitionTime while a condition holds, moves it on change', () => {
    const old = [{ type: 'Ready', status: 'True', lastTransitionTime: 'T0' }, { type: 'ContainersReady', status: 'False', lastTransitionTime: 'T0' }];
    const s = computePodStatus(pod(old), { containers: [running('a', true)] }, 'T9');
    assert.deepEqual([cond(s, 'Ready')?.lastTransitionTime, cond(s, 'ContainersReady')?.lastTransitionTime], ['T0', 'T9']);
  });
  it('restart counts and the crash-loop state are reported', () => {
    const s = computePodStatus(pod(), { containers: [backoff('a')] }, 'T1');
    const c = s.containerStatuses?.[0];
    assert.deepEqual([c?.restartCount, c?.state?.waiting?.reason, c?.lastState?.terminated?.exitCode, c?.ready], [2, 'CrashLoopBackOff', 1, false]);
  });
  it('a pod-level failure: Failed with its reason and message', () => {
    const s = computePodStatus(pod(), { containers: [exited('a', 128)], failure: { reason: 'NoCommand', message: 'no command' } }, 'T1');
    assert.deepEqual([s.phase, s.reason, s.message, cond(s, 'Ready')?.reason], ['Failed', 'NoCommand', 'no command', 'PodCompleted']);
  });
  it('readiness gates must be true for Ready', () => {
    const p = pod([{ type: 'example.com/gate', status: 'False' }]);
    p.spec!.readinessGates = [{ conditionType: 'example.com/gate' }];
    const s = computePodStatus(p, { containers: [running('a', true)] }, 'T1');
    assert.deepEqual([cond(s, 'ContainersReady')?.status, cond(s, 'Ready')?.status, cond(s, 'example.com/gate')?.status], ['True', 'False', 'False']);
  });
});
