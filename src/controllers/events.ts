// Event recording as controllers do it: one Event per (object, reason, message), its count and
// lastTimestamp bumped when it repeats, so a retried failure does not flood the namespace.
import { createHash } from 'node:crypto';
import type { ApiRegistry } from '../api/registry.js';
import type { Event } from '../registry/kinds/event.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import { NotFoundError, AlreadyExistsError } from '../util/errors.js';
import { nowTimestamp } from '../api/storage.js';

export type EventRecorder = (obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;

export function eventRecorder(registry: ApiRegistry, component: string): EventRecorder {
  const events = registry.kind<Event>('Event');
  return async (obj, type, reason, message) => {
    const meta = obj.metadata ?? {};
    const ns = meta.namespace || 'default';
    const name = `${meta.name}.${createHash('sha256').update(`${meta.uid}/${reason}/${message}`).digest('hex').slice(0, 16)}`;
    const now = nowTimestamp();
    try {
      await events.guaranteedUpdate(ns, name, (ev) => {
        ev.count = (ev.count ?? 1) + 1;
        ev.lastTimestamp = now;
        return ev;
      });
      return;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    try {
      await events.create(ns, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, namespace: meta.namespace, name: meta.name, uid: meta.uid, resourceVersion: meta.resourceVersion },
        reason,
        message,
        type,
        source: { component },
        reportingComponent: component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      } as Event);
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
  };
}
