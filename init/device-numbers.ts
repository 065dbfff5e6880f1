/**
 * Linux's 64-bit dev_t as glibc lays it out: the low 12 bits of the major and 8 of the minor in
 * the low word, the rest of both above them. Split (stat's rdev) and joined (mknod's dev).
 */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n)),
  };
}

export function makeDevice(major: number, minor: number): bigint {
  const [maj, min] = [BigInt(major), BigInt(minor)];
  return ((maj & 0xfffn) << 8n) | ((maj & 0xfffff000n) << 32n) | (min & 0xffn) | ((min & 0xffffff00n) << 12n);
}
