/**
 * Loads the kernel modules the packer put in the initramfs. The packer names them NNN-name.ko in
 * dependency order, so loading in byte order is enough: no modules.dep is read here.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { monotonicMs } from './clock.ts';
import { debug, warn } from './log.ts';
import { errnoOf } from './sys/errors.ts';
import { finitModule } from './sys/libc.ts';

/** Byte order, not locale order: the packer's numbering is defined on bytes. */
export function loadOrder(fileNames: readonly string[]): string[] {
  return fileNames.filter((name) => name.endsWith('.ko')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export interface ModuleLoadResult {
  loaded: string[];
  alreadyPresent: string[];
  failed: { module: string; errno: string }[];
}

/**
 * A module that fails is logged and the boot goes on: the share that needed it reports the real
 * problem when its mount fails, and a module the guest does not need must not stop the boot.
 */
export function loadModules(directory: string): ModuleLoadResult {
  const result: ModuleLoadResult = { loaded: [], alreadyPresent: [], failed: [] };
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') return result;
    throw cause;
  }
  for (const name of loadOrder(names)) {
    const started = monotonicMs();
    const path = join(directory, name);
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r');
      finitModule(fd, name);
      result.loaded.push(name);
      debug(`module ${name} loaded in ${(monotonicMs() - started).toFixed(1)} ms`);
    } catch (cause) {
      const errno = errnoOf(cause) ?? String(cause);
      // EEXIST: loaded already, or built into this kernel under the same name.
      if (errno === 'EEXIST') {
        result.alreadyPresent.push(name);
        debug(`module ${name} already present`);
      } else {
        result.failed.push({ module: name, errno });
        warn(`module ${name} (${path}) failed to load: ${errno}`);
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return result;
}
