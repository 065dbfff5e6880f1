/**
 * OCI whiteouts (image-spec layer.md): a layer deletes a lower layer's NAME with an empty entry
 * `.wh.NAME` beside it, and hides everything a lower layer put in a directory with
 * `DIR/.wh..wh..opq`. The markers themselves never appear in the tree.
 */
import { UnsafePathError } from './paths.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type Whiteout =
  | { kind: 'delete'; path: string[] }
  | { kind: 'opaque'; directory: string[] }
  /** aufs bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): carries nothing for the tree. */
  | { kind: 'internal' };

/** What an entry with these components means as a whiteout; undefined for an ordinary entry. */
export function whiteoutOf(segments: readonly string[], entry: string): Whiteout | undefined {
  const name = segments.at(-1);
  if (name === undefined || !name.startsWith(WHITEOUT_PREFIX)) return undefined;
  const parent = segments.slice(0, -1);
  if (name === OPAQUE_MARKER) return { kind: 'opaque', directory: parent };
  if (name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'internal' };
  const victim = name.slice(WHITEOUT_PREFIX.length);
  if (victim === '' || victim === '.' || victim === '..') {
    throw new UnsafePathError(`whiteout "${entry}" names "${victim}": refusing to delete outside its directory`);
  }
  return { kind: 'delete', path: [...parent, victim] };
}

/** Adds a path written by the current layer, and its parents, to the layer's set. */
export function recordLayerPath(layerPaths: Set<string>, path: readonly string[]): void {
  for (let depth = 1; depth <= path.length; depth += 1) layerPaths.add(path.slice(0, depth).join('/'));
}

/**
 * For an opaque directory: which children came only from lower layers (remove) and which the
 * current layer wrote to (keep; directories among them are pruned the same way, one level down).
 */
export function splitOpaqueChildren(directory: string, children: readonly string[], layerPaths: ReadonlySet<string>): { remove: string[]; keep: string[] } {
  const remove: string[] = [];
  const keep: string[] = [];
  for (const child of [...children].sort()) {
    const path = directory === '' ? child : `${directory}/${child}`;
    (layerPaths.has(path) ? keep : remove).push(path);
  }
  return { remove, keep };
}
