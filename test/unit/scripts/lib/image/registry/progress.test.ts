import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProgress, LARGE_LAYER_BYTES, terminalProgress } from '../../../../../../scripts/lib/image/registry/progress.ts';

test('progress: one line per redraw, for large layers only, and nothing when stderr is not a terminal', () => {
  const progress = { reference: 'docker.io/library/redis:7', layer: 2, layers: 3, digest: `sha256:${'abcdef0123456789'.repeat(4)}`, bytes: 47_395_635, size: 125_829_120 };
  assert.equal(formatProgress('chrootvm', progress), 'chrootvm: pulling docker.io/library/redis:7: layer 2/3 sha256:abcdef012345… 45.2/120.0 MiB');
  const written: string[] = [];
  const terminal = { isTTY: true, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
  const { report, end } = terminalProgress('chrootvm', terminal)!;
  report({ ...progress, size: LARGE_LAYER_BYTES - 1, bytes: 1 });
  report(progress);
  report({ ...progress, bytes: progress.size });
  end();
  assert.deepEqual(written, [`\r\x1b[K${formatProgress('chrootvm', progress)}`, `\r\x1b[K${formatProgress('chrootvm', { ...progress, bytes: progress.size })}\n`]);
  // A layer that never completes (the pull failed): its line is ended before the error is written.
  const next = { ...progress, layer: 3, digest: `sha256:${'9'.repeat(64)}`, bytes: 1 };
  report(next);
  end();
  assert.deepEqual(written.slice(2), [`\r\x1b[K${formatProgress('chrootvm', next)}`, '\n']);
  assert.equal(terminalProgress('chrootvm', { isTTY: false } as NodeJS.WriteStream), undefined);
});
