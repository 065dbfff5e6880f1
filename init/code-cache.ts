/**
 * The init's bundle runs from the executable's SEA assets with a V8 code cache in which every
 * function of the bundle is compiled already (scripts/build-code-cache.ts makes it, sea-main.ts
 * uses it). Node's own SEA code cache holds the top level only: each function was then parsed and
 * compiled on its first call, ~0.2 s of a plain boot under TCG. Both sides wrap the bundle alike
 * (wrapBundle); V8 checks a cache against the source's length only, so the Makefile makes the cache
 * again whenever the bundle changes.
 */
export const BUNDLE_ASSET = 'init.cjs';
export const CODE_CACHE_ASSET = 'init.code-cache';
/** What stack traces name the bundle: the executable it is part of. */
export const BUNDLE_FILENAME = '/init';

/** The bundle as a CommonJS module's function, which the SEA's main calls with its own module arguments. */
export function wrapBundle(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
}
