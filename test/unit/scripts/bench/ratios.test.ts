import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRatios } from '../../../../scripts/bench/ratios.ts';

test('computeRatios', () => {
  const ratios = computeRatios({
    chrootvmWall: 4,
    floorWall: 3.2,
    bareWall: 4.4,
    initPhase: 1.25,
    bareRuntime: 0.75,
    initSteps: 0.4,
    uncompressedInitrdBytes: 85 * 2 ** 20,
    strippedRuntimeBytes: 100 * 2 ** 20,
    icuDataBytes: 30 * 2 ** 20,
  });
  assert.deepEqual(ratios, [
    { name: 'A/B wall (chrootvm / busybox floor)', value: 1.25, text: '1.25x (4.00 s / 3.20 s)' },
    { name: 'C/B wall (bare runtime / busybox floor)', value: 1.375, text: '1.38x (4.40 s / 3.20 s)' },
    { name: 'init phase − bare runtime (C)', value: 0.5, text: "0.50 s (1.25 s − 0.75 s; the init's own log says 0.40 s)" },
    {
      name: 'initrd uncompressed − runtime',
      value: 15 * 2 ** 20,
      text: '15.73 MB = 15.0 MiB (85.0 MiB / 70.0 MiB = 1.21x; the stripped runtime less its 30.0 MiB of ICU data)',
    },
  ]);
});
