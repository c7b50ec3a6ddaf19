#!/bin/bash
# Tests for tools/mkgolden.d/sources.sh: which mirror mkgolden picks from a machine's apt
# sources (fixtures under tools/mkgolden.d/fixtures/<case>/ stand in for /etc/apt). TAP output.
# Run: tools/mkgolden.d/test-sources.sh   (no root needed)
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
# shellcheck source-path=SCRIPTDIR source=sources.sh
. "$here/sources.sh"
fx=$here/fixtures
n=0 failed=0

check() { # check DESCRIPTION EXPECTED ACTUAL
        n=$((n + 1))
        if [[ $2 == "$3" ]]; then
                echo "ok $n - $1"
        else
                echo "not ok $n - $1"
                printf '#   expected: %q\n#   actual:   %q\n' "$2" "$3"
                failed=$((failed + 1))
        fi
}

tab=$'\t'
check "site mirror: first deb main entry for the suite wins, options and trailing / dropped, signed-by kept" \
        "http://mirror.site.example/debian${tab}/etc/apt/keyrings/site.gpg" "$(mg_pick_mirror "$fx/site" bookworm)"
check "the suite is matched exactly (bookworm-security gets the security entry)" \
        "http://mirror.site.example/debian-security${tab}" "$(mg_pick_mirror "$fx/site" bookworm-security)"
check "no entry for the suite: falls back to the first plain Debian release entry" \
        "http://mirror.site.example/debian${tab}/etc/apt/keyrings/site.gpg" "$(mg_pick_mirror "$fx/site" trixie)"
check "deb822: disabled stanzas, third-party suites and inline keys are skipped; bookworm-updates is not bookworm" \
        "http://deb.debian.org/debian${tab}/usr/share/keyrings/debian-archive-keyring.gpg" "$(mg_pick_mirror "$fx/host" bookworm)"
check "deb822: a second suite of a stanza is matched too" \
        "http://deb.debian.org/debian${tab}/usr/share/keyrings/debian-archive-keyring.gpg" "$(mg_pick_mirror "$fx/host" bookworm-updates)"
check "files that are neither *.list nor *.sources are ignored" \
        "" "$(mg_list_entries "$fx/host" | grep ignored.example || true)"
rc=0; mg_pick_mirror "$fx/none" bookworm >/dev/null || rc=$?
check "no Debian main entry at all: failure, so mkgolden asks for --mirror" 1 "$rc"
check "entries are listed in apt's order (sources.list, then sources.list.d by name)" \
        "http://mirror.site.example/debian-security http://mirror.site.example/debian/ http://deb.debian.org/debian http://other.example/debian" \
        "$(mg_list_entries "$fx/site" | cut -f1 | paste -sd' ')"

echo "1..$n"
[[ $failed -eq 0 ]]
