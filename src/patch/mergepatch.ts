// RFC 7386 JSON Merge Patch: objects merge recursively, null deletes, anything else (lists
// included) replaces. Works on a copy; inputs are never mutated.
import { cloneJson, isObject, type JsonObject } from './json.js';

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  return mergeInto(cloneJson(target), patch);
}

// `target` is already a private copy, so it is updated in place.
function mergeInto(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return cloneJson(patch);
  const out: JsonObject = isObject(target) ? target : {};
  for (const k of Object.keys(patch)) {
    const pv = patch[k];
    if (pv === null) delete out[k];
    else out[k] = mergeInto(out[k], pv);
  }
  return out;
}
