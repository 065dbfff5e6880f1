/**
 * Linux errnos (x86_64 numbers) that Node does not name: finit_module reports a module's signature
 * problems with the key errnos (a modified signed module is EKEYREJECTED even when signatures are
 * not enforced).
 */
const LINUX_ONLY_ERRNOS: Record<string, number> = { ENOPKG: 65, ENOKEY: 126, EKEYEXPIRED: 127, EKEYREVOKED: 128, EKEYREJECTED: 129 };

let errnoNames: Map<number, string> | undefined;

/** `ENOENT` for 2; `errno 4242` for a number the platform does not name. */
export function errnoName(errno: number): string {
  // Built on the first error, not at load: node:os is not loaded yet when the init starts, and
  // loading it costs the boot ~10 ms under TCG.
  errnoNames ??= new Map(
    [...Object.entries(LINUX_ONLY_ERRNOS), ...Object.entries(process.getBuiltinModule('node:os').constants.errno)].map(([name, code]) => [code, name]),
  );
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/**
 * A failed system call, named by what it was doing:
 * `mount(virtiofs "rootfs" on /sysroot): ENOENT`.
 */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;

  constructor(what: string, errno: number) {
    super(`${what}: ${errnoName(errno)}`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.code = errnoName(errno);
  }
}

/** The errno carried by a SyscallError or a Node fs error, if any. */
export function errnoOf(error: unknown): string | undefined {
  if (error instanceof SyscallError) return error.code;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** What went wrong, as text: an Error's message, or whatever else was thrown. */
export function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
