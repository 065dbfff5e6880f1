/**
 * chrootvm's start-up loads what every run needs and nothing more: the image stack (registry
 * client, tar reader), the packer, the kernel's decompressors and the modules behind them (zlib,
 * crypto, util) are imported where a run needs them. A static import of any of them would put
 * tens of ms back on every run's way to qemu.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pinnedNode, projectRoot } from '../../../scripts/lib/artifacts.ts';

/** Prints, at exit, every module the process resolved. */
const RECORDER = `
import { registerHooks } from 'node:module';
const resolved = new Set();
registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); resolved.add(result.url); return result; } });
process.on('exit', () => process.stderr.write(JSON.stringify([...resolved])));
`;

const LOADED_ONLY_WHEN_NEEDED = [
  'node:zlib',
  'node:crypto',
  'node:util',
  'packer/index.ts',
  'scripts/lib/image/open-image.ts',
  'scripts/lib/image/registry/pull.ts',
  'scripts/lib/vmlinux-payload.ts',
  'node_modules/tar-stream/',
];

test('chrootvm --version loads none of the modules only some runs need', () => {
  const run = spawnSync(pinnedNode, ['--import', `data:text/javascript,${encodeURIComponent(RECORDER)}`, join(projectRoot, 'scripts/chrootvm.ts'), '--version'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const resolved: string[] = JSON.parse(run.stderr);
  assert.ok(resolved.some((url) => url.endsWith('/scripts/lib/vm.ts')), 'the recorder saw the static imports');
  assert.deepEqual(resolved.filter((url) => LOADED_ONLY_WHEN_NEEDED.some((heavy) => url === heavy || url.includes(`/${heavy}`))), []);
});
