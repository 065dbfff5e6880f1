/**
 * Download progress of large layers on a terminal: one line rewritten in place, ended when the
 * layer is complete. Nothing when stderr is not a terminal (a log file gets no progress noise).
 */
import type { LayerProgress } from './pull.ts';

/** Layers smaller than this arrive too fast for progress to say anything. */
export const LARGE_LAYER_BYTES = 8 * 2 ** 20;
const REDRAW_MS = 200;

const mebibytes = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** `chrootvm: pulling REF: layer 2/3 sha256:0123456789ab… 45.2/120.0 MiB`. */
export function formatProgress(program: string, { reference, layer, layers, digest, bytes, size }: LayerProgress): string {
  return `${program}: pulling ${reference}: layer ${layer}/${layers} ${digest.slice(0, 'sha256:'.length + 12)}… ${mebibytes(bytes)}/${mebibytes(size)} MiB`;
}

export interface TerminalProgress {
  report(progress: LayerProgress): void;
  /** Ends a line a layer left open (the pull failed midway), so the error gets a line of its own. */
  end(): void;
}

export function terminalProgress(program: string, stream: NodeJS.WriteStream = process.stderr): TerminalProgress | undefined {
  if (!stream.isTTY) return undefined;
  let drawn = 0;
  let shown = '';
  let open = false;
  return {
    report(progress) {
      if (progress.size < LARGE_LAYER_BYTES) return;
      const complete = progress.bytes >= progress.size;
      // A new layer shows at once; the same one at most every REDRAW_MS.
      if (!complete && progress.digest === shown && Date.now() - drawn < REDRAW_MS) return;
      drawn = Date.now();
      shown = progress.digest;
      open = !complete;
      stream.write(`\r\x1b[K${formatProgress(program, progress)}${complete ? '\n' : ''}`);
    },
    end() {
      if (open) stream.write('\n');
      open = false;
    },
  };
}
