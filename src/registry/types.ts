// The registry contract: everything the generic REST layer needs to know about one kind.
// Each kind's definition lives in registry/kinds/<kind>.ts and is listed in registry/index.ts.
import type { TSchema } from '@sinclair/typebox';
import type { FieldError } from '../util/errors.js';
import type { KubeObject } from './kinds/meta.js';

/** Cluster-wide settings that defaulting, validation and allocation depend on (flags of `portico up`). */
export interface ClusterConfig {
  /** e.g. ['10.96.0.0/12'] (first = primary family). */
  serviceCIDRs: string[];
  podCIDR: string;
  nodePortRange: { base: number; size: number };
  clusterDomain: string;
  /** Load-balancer pool: CIDRs or `a.b.c.d-e.f.g.h` ranges; empty = no pool. */
  lbPool: string[];
}

/** kube-apiserver's Table column definition (meta.k8s.io/v1 TableColumnDefinition). */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  /** 0 = always shown, 1 = only with `-o wide`. */
  priority: number;
}

export type TableCell = string | number | boolean | null;

export interface TablePrinter<T extends KubeObject = KubeObject> {
  columns: TableColumn[];
  /** One row's cells, in column order. `now` makes AGE deterministic in tests. */
  cells(obj: T, now: Date): TableCell[];
}

export interface KindDef<T extends KubeObject = KubeObject> {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** Plural resource name, e.g. 'services'. */
  resource: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  /** Subresources served, e.g. ['status']. */
  subresources: string[];
  /** Full object schema (TypeBox), with descriptions and strategic-merge-patch extensions. */
  schema: TSchema;
  /** Fills defaults in place, after decoding and before validation (create and update). */
  defaults?(obj: T, cfg: ClusterConfig): void;
  /**
   * Update strategy before defaulting and validation (kube's PrepareForUpdate): e.g. a Service keeps
   * its allocated cluster IPs and node ports when the new spec omits them, and drops fields its new
   * type no longer allows.
   */
  prepareForUpdate?(obj: T, old: T, cfg: ClusterConfig): void;
  /** Validation on create (metadata name rules included). */
  validate?(obj: T, cfg: ClusterConfig): FieldError[];
  /** Validation on update (immutability rules); `validate` also runs on updates. */
  validateUpdate?(obj: T, old: T, cfg: ClusterConfig): FieldError[];
  table: TablePrinter<T>;
  /** Field selectors beyond metadata.name and metadata.namespace, e.g. pods' spec.nodeName. */
  fieldSelectors?: Record<string, (obj: T) => string | undefined>;
  /** metadata.generation starts at 1 and grows with every change of `spec` (kube's workload strategies). */
  generation?: boolean;
  /** Name validation kind: 'dns1035' (Services), 'dns1123subdomain' (most), 'dns1123label' (Namespaces). */
  nameRule: 'dns1035' | 'dns1123subdomain' | 'dns1123label';
}

export function apiVersionOf(def: Pick<KindDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
