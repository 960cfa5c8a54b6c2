// The API's PATCH entry point: picks the patch kind from the request's Content-Type, as
// kube-apiserver does. Server-side apply is answered 415 so kubectl falls back to client-side apply.
import { BadRequestError, UnsupportedMediaTypeError } from '../util/errors.js';
import { applyJsonPatch } from './jsonpatch.js';
import { applyMergePatch } from './mergepatch.js';
import { isObject } from './json.js';
import { applyStrategicMergePatch, type Schema, type StrategicOptions } from './strategic.js';

export { applyJsonPatch, JsonPatchApplyError, MAX_JSON_PATCH_OPERATIONS } from './jsonpatch.js';
export { applyMergePatch } from './mergepatch.js';
export { applyStrategicMergePatch, type Schema, type StrategicOptions } from './strategic.js';

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

/** Media types this server accepts on PATCH (for discovery and 415 messages). */
export const PATCH_TYPES: readonly string[] = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH];

function decodeBody(body: unknown): unknown {
  if (!(body instanceof Uint8Array)) return body;
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (e) {
    throw new BadRequestError(`error decoding patch: ${(e as Error).message}`);
  }
}

/**
 * Applies a PATCH body to the stored object. `contentType` may carry parameters (`; charset=utf-8`).
 * `patchBody` is the decoded JSON (raw bytes are decoded here). Inputs are never mutated.
 */
export function applyPatch(contentType: string, original: unknown, patchBody: unknown, schema: Schema | undefined, opts?: StrategicOptions): unknown {
  const mediaType = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  switch (mediaType) {
    case JSON_PATCH:
      return applyJsonPatch(original, decodeBody(patchBody));
    case MERGE_PATCH: {
      const patch = decodeBody(patchBody);
      // A non-object merge patch would replace the whole object with a non-object.
      if (!isObject(patch)) throw new BadRequestError('Invalid JSON Patch');
      return applyMergePatch(original, patch);
    }
    case STRATEGIC_MERGE_PATCH:
      return applyStrategicMergePatch(original, decodeBody(patchBody), schema, opts);
    default:
      throw new UnsupportedMediaTypeError(contentType);
  }
}
