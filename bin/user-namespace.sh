# Sourced by the commands beside it: enter_user_namespace COMMAND [ARG]... runs COMMAND. An ordinary
# user gets it as root of a user namespace of its own, as rootless podman does: uid and gid 0 there
# are the user's own, 1-65535 the user's first subordinate range (/etc/subuid, /etc/subgid, mapped by
# newuidmap/newgidmap from Debian's uidmap), with a private mount namespace. virtiofsd needs that to
# run at all (it calls setgroups), and it is what makes a share's ownership map as in a container.
# Root, or a user already inside, runs COMMAND as it is; so does a user whose namespace cannot be
# made: COMMAND then says what is missing (scripts/lib/user-namespace.ts). The words are passed on
# by the shell, byte for byte.
enter_user_namespace() {
	if [ "$(id -u)" != 0 ] && unshare --map-root-user --map-auto true 2>/dev/null; then
		exec unshare --map-root-user --map-auto --mount --propagation private -- "$@"
	fi
	exec "$@"
}
