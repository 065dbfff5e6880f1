/**
 * The SEA's main (sea-config.json): runs the init's bundle with its code cache (code-cache.ts).
 * A rejected cache still boots, compiling as it goes; it means the cache and the runtime were not
 * built together, so it is said on the console.
 */
import { getAsset, getRawAsset } from 'node:sea';
import { Script } from 'node:vm';
import { BUNDLE_ASSET, BUNDLE_FILENAME, CODE_CACHE_ASSET, wrapBundle } from './code-cache.ts';
import { warn } from './log.ts';

type CommonJsModuleFunction = (exports: unknown, require: NodeJS.Require, module: NodeJS.Module, filename: string, dirname: string) => void;

const script = new Script(wrapBundle(getAsset(BUNDLE_ASSET, 'utf8')), { filename: BUNDLE_FILENAME, cachedData: Buffer.from(getRawAsset(CODE_CACHE_ASSET)) });
if (script.cachedDataRejected) warn(`V8 rejected the code cache of ${BUNDLE_FILENAME} (built by another Node?): compiling as it runs`);
(script.runInThisContext() as CommonJsModuleFunction)(exports, require, module, __filename, __dirname);
