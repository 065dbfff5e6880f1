/** The comparisons the benchmark ends with, computed from the medians. */
import { mebibytes, seconds } from './table.ts';

export interface RatioInput {
  /** A: `chrootvm ROOTFS true`, wall seconds on the host. */
  chrootvmWall: number;
  /** B: the busybox floor in the same VM, wall seconds on the host. */
  floorWall: number;
  /** C: the bare runtime in the same VM, wall seconds on the host. */
  bareWall: number;
  /** A with `debug`: /init started → command started, guest seconds (the runtime's startup and the init's steps). */
  initPhase: number;
  /** C: /init started → power down, guest seconds (the runtime's startup, dlopen of ffi-rs, one reboot call). */
  bareRuntime: number;
  /** A with `debug`: JS started → command started, the init's steps as the init itself measures them. */
  initSteps: number;
  /** The initrd as a plain cpio. */
  uncompressedInitrdBytes: number;
  /** The Node runtime after `strip --strip-all`, before the SEA blob goes in and its ICU data goes out. */
  strippedRuntimeBytes: number;
  /** The ICU data the SEA build drops from the runtime. */
  icuDataBytes: number;
}

export interface Ratio {
  name: string;
  value: number;
  text: string;
}

export function computeRatios(input: RatioInput): Ratio[] {
  const wall = input.chrootvmWall / input.floorWall;
  const bare = input.bareWall / input.floorWall;
  const initOwn = input.initPhase - input.bareRuntime;
  const runtime = input.strippedRuntimeBytes - input.icuDataBytes;
  const overhead = input.uncompressedInitrdBytes - runtime;
  const size = input.uncompressedInitrdBytes / runtime;
  return [
    {
      name: 'A/B wall (chrootvm / busybox floor)',
      value: wall,
      text: `${wall.toFixed(2)}x (${seconds(input.chrootvmWall)} s / ${seconds(input.floorWall)} s)`,
    },
    {
      // A runtime that starts and powers off at once: no Node init can do better than this.
      name: 'C/B wall (bare runtime / busybox floor)',
      value: bare,
      text: `${bare.toFixed(2)}x (${seconds(input.bareWall)} s / ${seconds(input.floorWall)} s)`,
    },
    {
      name: 'init phase − bare runtime (C)',
      value: initOwn,
      text: `${seconds(initOwn)} s (${seconds(input.initPhase)} s − ${seconds(input.bareRuntime)} s; the init's own log says ${seconds(input.initSteps)} s)`,
    },
    {
      name: 'initrd uncompressed − runtime',
      value: overhead,
      text:
        `${(overhead / 1e6).toFixed(2)} MB = ${mebibytes(overhead)} MiB (${mebibytes(input.uncompressedInitrdBytes)} MiB / ${mebibytes(runtime)} MiB = ${size.toFixed(2)}x;` +
        ` the stripped runtime less its ${mebibytes(input.icuDataBytes)} MiB of ICU data)`,
    },
  ];
}
