/** A command line that cannot be understood: the CLIs print it with a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function usageErrorText(program: string, error: UsageError): string {
  return `${program}: ${error.message}\n(${program} --help for usage)\n`;
}
