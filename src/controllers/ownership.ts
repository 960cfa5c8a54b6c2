// Controller references (kube's ControllerRefManager): which objects a controller owns, which
// orphans it adopts because its selector matches them, and which it releases because it no
// longer does. Shared by the ReplicaSet controller (Pods) and the Deployment controller
// (ReplicaSets). Adoption and release are read-modify-writes of metadata.ownerReferences.
import type { KubeObject, OwnerReference } from '../registry/kinds/meta.js';
import type { ResourceStorage } from '../api/storage.js';
import type { Selector } from '../selectors/labels.js';
import { NotFoundError } from '../util/errors.js';

export function controllerRefOf(o: KubeObject): OwnerReference | undefined {
  return o.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** The reference a controller puts on what it makes or adopts (controller and blockOwnerDeletion set). */
export function controllerRef(owner: KubeObject): OwnerReference {
  return { apiVersion: owner.apiVersion ?? '', kind: owner.kind ?? '', name: owner.metadata?.name ?? '', uid: owner.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export interface Claims<T> {
  owned: T[];
  adopt: T[];
  release: T[];
}

/** Sorts objects into owned, to adopt (orphans the selector matches) and to release (owned, no longer matching). */
export function classify<T extends KubeObject>(objs: Iterable<T>, owner: KubeObject, selector: Selector): Claims<T> {
  const uid = owner.metadata?.uid;
  const ownerDeleting = Boolean(owner.metadata?.deletionTimestamp);
  const out: Claims<T> = { owned: [], adopt: [], release: [] };
  for (const o of objs) {
    const ref = controllerRefOf(o);
    const matches = selector.matches(o.metadata?.labels);
    if (ref) {
      if (ref.uid !== uid) continue;
      if (matches || ownerDeleting) out.owned.push(o);
      else out.release.push(o);
    } else if (matches && !ownerDeleting && !o.metadata?.deletionTimestamp) {
      out.adopt.push(o);
    }
  }
  return out;
}

/** Adds the controller reference; undefined when someone else took control first or the object went. */
export async function adopt<T extends KubeObject>(storage: ResourceStorage<T>, o: T, owner: KubeObject): Promise<T | undefined> {
  try {
    let taken = false;
    const out = await storage.guaranteedUpdate(o.metadata?.namespace, o.metadata?.name ?? '', (cur) => {
      if (cur.metadata?.uid !== o.metadata?.uid || controllerRefOf(cur)) {
        taken = true;
        return cur;
      }
      const meta = cur.metadata!;
      meta.ownerReferences = [...(meta.ownerReferences ?? []), controllerRef(owner)];
      return cur;
    });
    return taken ? undefined : out;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Removes the owner's reference (the object becomes an orphan). */
export async function release<T extends KubeObject>(storage: ResourceStorage<T>, o: T, ownerUid: string): Promise<void> {
  try {
    await storage.guaranteedUpdate(o.metadata?.namespace, o.metadata?.name ?? '', (cur) => {
      const meta = cur.metadata!;
      meta.ownerReferences = (meta.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
      if (meta.ownerReferences.length === 0) delete meta.ownerReferences;
      return cur;
    });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}
