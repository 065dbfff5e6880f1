/**
 * Undo actions registered as resources are created, run newest first exactly once — on success,
 * on failure and on SIGINT/SIGTERM/SIGHUP — so no daemon, socket or temp dir outlives chrootvm.
 */
type Undo = () => void | Promise<void>;

export class Cleanup {
  private readonly actions: { what: string; undo: Undo }[] = [];
  private running: Promise<void> | undefined;

  add(what: string, undo: Undo): void {
    this.actions.push({ what, undo });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const { what, undo } of this.actions.reverse()) {
        try {
          await undo();
        } catch (cause) {
          process.stderr.write(`chrootvm: cleaning up ${what}: ${(cause as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }
}
