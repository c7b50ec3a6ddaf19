# tests/lib/harness.sh — the environment integration tests run in (sourced).
#
# harness_up makes sure that:
#   - a network namespace $HOSTD_TEST_NETNS exists with only loopback in it,
#     so nothing inside it has a route out;
#   - virtlogd and libvirtd run INSIDE that namespace (started here when no
#     libvirtd runs; a running one is reused only if it is in the namespace);
#   - an isolated libvirt network $HOSTD_TEST_NETWORK (no <forward>: DHCP for
#     guests, reachable only from inside the namespace) is active;
#   - the golden image exists (tools/mkgolden, cached by the hash of its inputs
#     under $HOSTD_CACHE, outside the repository).
# It exports what the tests read: HOSTD_TEST_GOLDEN, HOSTD_TEST_NETNS,
# HOSTD_TEST_NETWORK, HOSTD_TEST_LIBVIRT_URI, HOSTD_VIRT_TYPE, LIBGUESTFS_BACKEND.

harness_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export HOSTD_CACHE=${HOSTD_CACHE:-/var/cache/hostd}
export HOSTD_TEST_NETNS=${HOSTD_TEST_NETNS:-hostd-lab}
export HOSTD_TEST_NETWORK=${HOSTD_TEST_NETWORK:-hostd-test}
export HOSTD_TEST_LIBVIRT_URI=${HOSTD_TEST_LIBVIRT_URI:-qemu:///system}
# /dev/kvm may exist and still be unusable (nested, missing CPU features):
# tests use TCG unless told otherwise.
export HOSTD_VIRT_TYPE=${HOSTD_VIRT_TYPE:-qemu}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
if [ "$HOSTD_VIRT_TYPE" = qemu ]; then
	export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
fi

# shellcheck source=tools/lib/netns.sh
. "$harness_top/tools/lib/netns.sh"

harness_log() { echo "# harness: $*"; }

harness_golden() {
	if [ -n "${HOSTD_TEST_GOLDEN:-}" ] && [ -f "$HOSTD_TEST_GOLDEN" ]; then
		return 0
	fi
	local start=$SECONDS
	harness_log "building or reusing the golden image (tools/mkgolden)"
	local out
	out=$("$harness_top/tools/mkgolden" --cache-dir "$HOSTD_CACHE/mkgolden") || return 1
	HOSTD_TEST_GOLDEN=$(printf '%s\n' "$out" | tail -n1)
	[ -f "$HOSTD_TEST_GOLDEN" ] || { harness_log "mkgolden printed no image path"; return 1; }
	export HOSTD_TEST_GOLDEN
	harness_log "golden image $HOSTD_TEST_GOLDEN ready in $((SECONDS - start))s"
}

harness_up() {
	if [ "$(id -u)" -ne 0 ]; then
		harness_log "integration tests need root (libvirtd, network namespaces, libguestfs)"
		return 1
	fi
	netns_up "$HOSTD_TEST_NETNS" &&
		netns_libvirtd "$HOSTD_TEST_NETNS" "$HOSTD_TEST_LIBVIRT_URI" &&
		netns_network "$HOSTD_TEST_LIBVIRT_URI" "$HOSTD_TEST_NETWORK" hdtest0 192.168.230 &&
		harness_golden
}
