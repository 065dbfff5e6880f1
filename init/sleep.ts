/** Blocking sleep for the boot's waiting loops: PID 1 has nothing else to do while a device appears. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function sleepSync(milliseconds: number): void {
  Atomics.wait(sleeper, 0, 0, milliseconds);
}
