// Server-side printing: objects to meta.k8s.io/v1 Tables with each kind's kube-apiserver columns.
import type { KindDef } from '../registry/types.js';
import type { KubeObject } from '../registry/kinds/meta.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: KindDef['table']['columns'];
  rows: Array<{ cells: unknown[]; object?: unknown }>;
}

export function partialMetadata(obj: KubeObject): { kind: 'PartialObjectMetadata'; apiVersion: 'meta.k8s.io/v1'; metadata: KubeObject['metadata'] } {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function toTable(def: KindDef, objs: KubeObject[], opts: { include: IncludeObject; now?: Date; resourceVersion?: string; continueToken?: string; noHeaders?: boolean }): Table {
  const now = opts.now ?? new Date();
  const t: Table = {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: opts.noHeaders ? [] : def.table.columns,
    rows: objs.map((o) => {
      const row: { cells: unknown[]; object?: unknown } = { cells: def.table.cells(o, now) };
      if (opts.include === 'Metadata') row.object = partialMetadata(o);
      else if (opts.include === 'Object') row.object = o;
      return row;
    }),
  };
  if (opts.resourceVersion) t.metadata.resourceVersion = opts.resourceVersion;
  if (opts.continueToken) t.metadata.continue = opts.continueToken;
  return t;
}

export function parseIncludeObject(v: string | null): IncludeObject {
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}
