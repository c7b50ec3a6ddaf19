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
export HOSTD_TEST_NETNS=${HOSTD_TEST_NETNS:-hostd-test}
export HOSTD_TEST_NETWORK=${HOSTD_TEST_NETWORK:-hostd-test}
export HOSTD_TEST_LIBVIRT_URI=${HOSTD_TEST_LIBVIRT_URI:-qemu:///system}
# /dev/kvm may exist and still be unusable (nested, missing CPU features):
# tests use TCG unless told otherwise.
export HOSTD_VIRT_TYPE=${HOSTD_VIRT_TYPE:-qemu}
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
if [ "$HOSTD_VIRT_TYPE" = qemu ]; then
	export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
fi

harness_log() { echo "# harness: $*"; }

harness_netns() {
	if ! ip netns list | grep -qw "^$HOSTD_TEST_NETNS"; then
		ip netns add "$HOSTD_TEST_NETNS" || return 1
	fi
	ip -n "$HOSTD_TEST_NETNS" link set lo up
	# The namespace must have no way out: no default route, no uplink.
	if ip -n "$HOSTD_TEST_NETNS" route show default | grep -q .; then
		harness_log "namespace $HOSTD_TEST_NETNS has a default route; refusing to use it"
		return 1
	fi
}

harness_libvirtd() {
	local pid ns
	pid=$(pgrep -x libvirtd | head -n1)
	if [ -n "$pid" ]; then
		ns=$(ip netns identify "$pid" 2>/dev/null)
		if [ "$ns" != "$HOSTD_TEST_NETNS" ]; then
			harness_log "a libvirtd (pid $pid) already runs outside namespace $HOSTD_TEST_NETNS;"
			harness_log "stop it (tests must not reach guests from the root namespace) and run again"
			return 1
		fi
		harness_log "reusing libvirtd $pid in namespace $HOSTD_TEST_NETNS"
	else
		pgrep -x virtlogd >/dev/null || ip netns exec "$HOSTD_TEST_NETNS" virtlogd -d || return 1
		ip netns exec "$HOSTD_TEST_NETNS" libvirtd -d || return 1
		harness_log "started libvirtd in namespace $HOSTD_TEST_NETNS"
	fi
	for _ in $(seq 1 50); do
		virsh -c "$HOSTD_TEST_LIBVIRT_URI" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	harness_log "libvirtd does not answer on $HOSTD_TEST_LIBVIRT_URI"
	return 1
}

harness_network() {
	local uri=$HOSTD_TEST_LIBVIRT_URI xml
	if ! virsh -c "$uri" net-info "$HOSTD_TEST_NETWORK" >/dev/null 2>&1; then
		xml=$(mktemp)
		cat >"$xml" <<EOF
<network>
  <name>$HOSTD_TEST_NETWORK</name>
  <bridge name='hdtest0' stp='off'/>
  <ip address='192.168.230.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.230.10' end='192.168.230.250'/></dhcp>
  </ip>
</network>
EOF
		virsh -c "$uri" net-define "$xml" >/dev/null || { rm -f "$xml"; return 1; }
		rm -f "$xml"
	fi
	if ! virsh -c "$uri" net-info "$HOSTD_TEST_NETWORK" | grep -q 'Active:.*yes'; then
		virsh -c "$uri" net-start "$HOSTD_TEST_NETWORK" >/dev/null || return 1
	fi
}

harness_golden() {
	if [ -n "${HOSTD_TEST_GOLDEN:-}" ] && [ -f "$HOSTD_TEST_GOLDEN" ]; then
		return 0
	fi
	local start=$SECONDS
	harness_log "building or reusing the golden image (tools/mkgolden)"
	HOSTD_TEST_GOLDEN=$("$harness_top/tools/mkgolden" --cache-dir "$HOSTD_CACHE/mkgolden" | tail -n1) || return 1
	export HOSTD_TEST_GOLDEN
	harness_log "golden image $HOSTD_TEST_GOLDEN ready in $((SECONDS - start))s"
}

harness_up() {
	if [ "$(id -u)" -ne 0 ]; then
		harness_log "integration tests need root (libvirtd, network namespaces, libguestfs)"
		return 1
	fi
	harness_netns && harness_libvirtd && harness_network && harness_golden
}
