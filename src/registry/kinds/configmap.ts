// core/v1 ConfigMap and Secret: schemas, types, kube's validation (config keys, a key in only one
// of data/binaryData, 1 MiB of values in all, `immutable`, the Secret types' required keys), Secret's
// write-only `stringData` merged into `data`, and kube's printers.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { field, type FieldError } from '../../util/errors.js';
import { age, ageColumn, col, nameColumn } from '../printers.js';
import { Bool, O, Str, StrMap, kindSchema, listSchema } from './common.js';

/** core.MaxSecretSize: the limit on a ConfigMap's or Secret's data, in bytes. */
const MAX_SIZE = 1024 * 1024;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const ByteMap = (description: string) => Type.Record(Type.String(), Type.String({ format: 'byte' }), { description });

const cmGvk = { group: '', version: 'v1', kind: 'ConfigMap' };
export const ConfigMap = kindSchema('io.k8s.api.core.v1.ConfigMap', cmGvk, 'ConfigMap holds configuration data for pods to consume.', {
  data: O(StrMap("Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.")),
  binaryData: O(ByteMap("BinaryData contains the binary data. Each key must consist of alphanumeric characters, '-', '_' or '.'. BinaryData can contain byte sequences that are not in the UTF-8 range. The keys stored in BinaryData must not overlap with the ones in the Data field, this is enforced during validation process.")),
  immutable: O(Bool('Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated (only object metadata can be modified). If not set to true, the field can be modified at any time. Defaulted to nil.')),
});
export type ConfigMap = Static<typeof ConfigMap>;
export const ConfigMapList = listSchema(ConfigMap, { ...cmGvk, kind: 'ConfigMapList' }, 'Items is the list of ConfigMaps.');

const secretGvk = { group: '', version: 'v1', kind: 'Secret' };
export const Secret = kindSchema('io.k8s.api.core.v1.Secret', secretGvk, 'Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.', {
  data: O(ByteMap("Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here.")),
  stringData: O(StrMap('stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience. All keys and values are merged into the data field on write, overwriting any existing values. The stringData field is never output when reading from the API.')),
  type: O(Str('Used to facilitate programmatic handling of secret data.')),
  immutable: O(Bool('Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified). If not set to true, the field can be modified at any time. Defaulted to nil.')),
});
export type Secret = Static<typeof Secret>;
export const SecretList = listSchema(Secret, { ...secretGvk, kind: 'SecretList' }, 'Items is a list of secret objects.');

function validateKeys(keys: string[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of keys) {
    if (k.length > 253 || !CONFIG_KEY.test(k)) {
      errs.push(field.invalid(`${path}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
    } else if (k === '.' || k === '..' || k.startsWith('..')) {
      errs.push(field.invalid(`${path}[${k}]`, k, k.startsWith('..') && k.length > 2 ? "must not start with '..'" : `must not be '${k}'`));
    }
  }
  return errs;
}

const base64Size = (v: string) => Buffer.byteLength(v, 'base64');

function validateBase64(m: Record<string, string> | undefined, path: string): FieldError[] {
  return Object.entries(m ?? {})
    .filter(([, v]) => !BASE64.test(v))
    .map(([k, v]) => field.invalid(`${path}[${k}]`, v, 'illegal base64 data'));
}

/** The `immutable` rule shared by both kinds: each data field frozen and the flag kept once set. */
function validateImmutable<T extends { immutable?: boolean }>(obj: T, old: T, fields: Array<keyof T & string>): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (obj.immutable !== true) errs.push(field.forbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) {
    if (!sameMap(obj[f] as Record<string, string> | undefined, old[f] as Record<string, string> | undefined)) errs.push(field.forbidden(f, 'field is immutable when `immutable` is set'));
  }
  return errs;
}

const sameMap = (a: Record<string, string> | undefined, b: Record<string, string> | undefined) => JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());

export const configMapKind: KindDef<ConfigMap> = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  resource: 'configmaps',
  singular: 'configmap',
  shortNames: ['cm'],
  categories: [],
  namespaced: true,
  subresources: [],
  schema: ConfigMap,
  nameRule: 'dns1123subdomain',
  validate(cm) {
    const errs = [...validateKeys(Object.keys(cm.data ?? {}), 'data'), ...validateKeys(Object.keys(cm.binaryData ?? {}), 'binaryData'), ...validateBase64(cm.binaryData, 'binaryData')];
    let size = 0;
    for (const [k, v] of Object.entries(cm.data ?? {})) {
      size += Buffer.byteLength(v);
      if (cm.binaryData && k in cm.binaryData) errs.push(field.invalid(`data[${k}]`, k, 'duplicate of key present in binaryData'));
    }
    for (const v of Object.values(cm.binaryData ?? {})) size += base64Size(v);
    if (size > MAX_SIZE) errs.push(field.tooLong('', `may not be more than ${MAX_SIZE} bytes`));
    return errs;
  },
  validateUpdate(cm, old) {
    return validateImmutable(cm, old, ['data', 'binaryData']);
  },
  table: {
    columns: [nameColumn, col('Data', 'The number of keys in the ConfigMap.', 0, 'integer'), ageColumn],
    cells(cm, now) {
      return [cm.metadata?.name ?? '', Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length, age(cm.metadata?.creationTimestamp, now)];
    },
  },
};

/** Keys each Secret type must carry (ValidateSecret). */
const REQUIRED_KEYS: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

export const secretKind: KindDef<Secret> = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  listKind: 'SecretList',
  resource: 'secrets',
  singular: 'secret',
  shortNames: [],
  categories: [],
  namespaced: true,
  subresources: [],
  schema: Secret,
  nameRule: 'dns1123subdomain',
  defaults(s) {
    s.type ||= 'Opaque';
    // stringData is write-only: merged into data (base64), never stored.
    if (s.stringData) {
      const data = (s.data ??= {});
      for (const [k, v] of Object.entries(s.stringData)) data[k] = Buffer.from(v, 'utf8').toString('base64');
      delete s.stringData;
    }
  },
  validate(s) {
    const keys = Object.keys(s.data ?? {});
    const errs = [...validateKeys(keys, 'data'), ...validateBase64(s.data, 'data')];
    let size = 0;
    for (const v of Object.values(s.data ?? {})) size += base64Size(v);
    if (size > MAX_SIZE) errs.push(field.tooLong('data', `may not be more than ${MAX_SIZE} bytes`));
    for (const k of REQUIRED_KEYS[s.type ?? ''] ?? []) if (!keys.includes(k)) errs.push(field.required(`data[${k}]`));
    if (s.type === 'kubernetes.io/basic-auth' && !keys.includes('username') && !keys.includes('password')) {
      errs.push(field.required('data[username]'));
    }
    return errs;
  },
  validateUpdate(s, old) {
    const errs: FieldError[] = [];
    if ((s.type ?? 'Opaque') !== (old.type ?? 'Opaque')) errs.push(field.invalid('type', s.type, 'field is immutable'));
    return [...errs, ...validateImmutable(s, old, ['data'])];
  },
  table: {
    columns: [nameColumn, col('Type', 'The type of secret'), col('Data', 'The number of keys in the secret.', 0, 'integer'), ageColumn],
    cells(s, now) {
      return [s.metadata?.name ?? '', s.type ?? 'Opaque', Object.keys(s.data ?? {}).length, age(s.metadata?.creationTimestamp, now)];
    },
  },
};
