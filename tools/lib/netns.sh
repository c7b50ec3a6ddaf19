# tools/lib/netns.sh — a network namespace with libvirtd inside it (sourced).
#
# Used by tests/lib/harness.sh and tools/quickstart: workspaces on a machine
# without a site network of its own live on an isolated libvirt network
# (DHCP, no <forward>) inside a namespace that has only loopback, so they are
# reachable only with `ip netns exec NS …` and nothing has a route out.

netns_log() { echo "# netns: $*" >&2; }

# netns_up NS: create NS with loopback up; refuse one with a default route.
netns_up() {
	local ns=$1
	# (grep without -q below: under pipefail, an early exit of grep -q can
	# kill the writer with SIGPIPE and make the pipeline fail.)
	if ! ip netns list | grep -w "^$ns" >/dev/null; then
		ip netns add "$ns" || return 1
	fi
	ip -n "$ns" link set lo up
	if ip -n "$ns" route show default | grep . >/dev/null; then
		netns_log "namespace $ns has a default route; refusing to use it"
		return 1
	fi
}

# kvm_device_perms: give /dev/kvm the owner udev gives it on Debian
# (root:kvm 0660). Where a container left it with another group, libvirt
# finds KVM usable for itself but not for qemu's user, throws its capability
# cache away on every call and re-probes QEMU: each define took ~7 s.
kvm_device_perms() {
	[ -c /dev/kvm ] && getent group kvm >/dev/null || return 0
	if [ "$(stat -c %G /dev/kvm)" != kvm ]; then
		chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && netns_log "set /dev/kvm to root:kvm 0660 (as udev does)"
	fi
}

# netns_libvirtd NS URI: make sure libvirtd runs inside NS and answers URI.
netns_libvirtd() {
	local ns=$1 uri=$2 pid cur p
	kvm_device_perms
	# The first live libvirtd (zombies linger where PID 1 does not reap).
	pid=
	for p in $(pgrep -x libvirtd); do
		[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] || { pid=$p; break; }
	done
	if [ -n "$pid" ]; then
		cur=$(ip netns identify "$pid" 2>/dev/null)
		if [ "$cur" != "$ns" ]; then
			netns_log "a libvirtd (pid $pid) already runs outside namespace $ns;"
			netns_log "stop it (guests must not be reached from the root namespace) and run again"
			return 1
		fi
	else
		pgrep -x virtlogd >/dev/null || ip netns exec "$ns" virtlogd -d || return 1
		# Under tini as a child subreaper: qemu processes that libvirtd
		# daemonizes are reaped at once even where PID 1 does not reap
		# (containers); libvirt otherwise waits on their zombies in every
		# capability probe and stalls for minutes.
		mkdir -p /var/log/libvirt
		ip netns exec "$ns" setsid tini -s -- libvirtd </dev/null >>/var/log/libvirt/hostd-lab-libvirtd.log 2>&1 &
		netns_log "started libvirtd (under tini) in namespace $ns"
	fi
	for _ in $(seq 1 50); do
		virsh -c "$uri" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	netns_log "libvirtd does not answer on $uri"
	return 1
}

# netns_network URI NAME BRIDGE PREFIX: an active isolated network NAME on
# bridge BRIDGE with PREFIX.1/24 for the host and DHCP for guests.
netns_network() {
	local uri=$1 name=$2 bridge=$3 prefix=$4 xml
	if ! virsh -c "$uri" net-info "$name" >/dev/null 2>&1; then
		xml=$(mktemp)
		cat >"$xml" <<XML
<network>
  <name>$name</name>
  <bridge name='$bridge' stp='off'/>
  <ip address='$prefix.1' netmask='255.255.255.0'>
    <dhcp><range start='$prefix.10' end='$prefix.250'/></dhcp>
  </ip>
</network>
XML
		virsh -c "$uri" net-define "$xml" >/dev/null || { rm -f "$xml"; return 1; }
		rm -f "$xml"
	fi
	if ! virsh -c "$uri" net-info "$name" | grep 'Active:.*yes' >/dev/null; then
		virsh -c "$uri" net-start "$name" >/dev/null || return 1
	fi
}
