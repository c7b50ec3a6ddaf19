# shellcheck shell=bash
# Mirror discovery for tools/mkgolden: reads the apt sources of the machine it runs on
# (one-line *.list and deb822 *.sources) and picks the Debian mirror to debootstrap from.
# Sourced by tools/mkgolden (and by tools/mkgolden.d/test-sources.sh); defines functions only.

# Debian release names and aliases accepted when no entry names the wanted suite exactly.
MG_DEBIAN_SUITES=" oldoldstable oldstable stable testing unstable sid buster bullseye bookworm trixie forky duke "

# mg_list_entries APT_ETC_DIR
# Prints one line per (URI, suite) of every enabled `deb` entry whose components include
# `main`, in the order apt reads them: sources.list first, then sources.list.d/*.list and
# *.sources sorted by name. Each line: URI<TAB>SUITE<TAB>SIGNED_BY (SIGNED_BY may be "").
mg_list_entries() {
        local etc=$1 f
        local -a files=()
        [[ -f $etc/sources.list ]] && files+=("$etc/sources.list")
        if [[ -d $etc/sources.list.d ]]; then
                while IFS= read -r -d '' f; do
                        files+=("$f")
                done < <(find "$etc/sources.list.d" -maxdepth 1 -type f \
                        \( -name '*.list' -o -name '*.sources' \) -print0 | LC_ALL=C sort -z)
        fi
        for f in "${files[@]}"; do
                case $f in
                *.sources) mg_parse_deb822 <"$f" ;;
                *) mg_parse_oneline <"$f" ;;
                esac
        done
}

# One-line format: `deb [ opt=val ... ] URI SUITE COMPONENT...`, `#` starts a comment.
mg_parse_oneline() {
        awk '
        {
                sub(/#.*/, "")
                if ($1 != "deb") next
                line = $0
                sub(/^[ \t]*deb[ \t]+/, "", line)
                signed = ""
                if (substr(line, 1, 1) == "[") {
                        end = index(line, "]")
                        if (end == 0) next
                        opts = substr(line, 2, end - 2)
                        line = substr(line, end + 1)
                        n = split(opts, o, /[ \t]+/)
                        for (i = 1; i <= n; i++)
                                if (tolower(o[i]) ~ /^signed-by=/)
                                        signed = substr(o[i], 11)
                }
                n = split(line, w, /[ \t]+/)
                k = 0
                for (i = 1; i <= n; i++)
                        if (w[i] != "") f[++k] = w[i]
                if (k < 3) next
                for (i = 3; i <= k; i++)
                        if (f[i] == "main") {
                                printf "%s\t%s\t%s\n", f[1], f[2], signed
                                break
                        }
        }'
}

# deb822 format: stanzas of `Field: value` separated by blank lines; continuation lines
# start with white space; `#` lines are comments; `Enabled: no` turns a stanza off.
mg_parse_deb822() {
        awk '
        function flush(   nu, ns, nc, nt, i, j, u, s, c, t, hasmain, isdeb) {
                if (types != "" && uris != "" && suites != "" && enabled != "no") {
                        nt = split(types, t, /[ \t]+/)
                        isdeb = 0
                        for (i = 1; i <= nt; i++) if (t[i] == "deb") isdeb = 1
                        nc = split(comps, c, /[ \t]+/)
                        hasmain = 0
                        for (i = 1; i <= nc; i++) if (c[i] == "main") hasmain = 1
                        if (isdeb && hasmain) {
                                nu = split(uris, u, /[ \t]+/)
                                ns = split(suites, s, /[ \t]+/)
                                for (i = 1; i <= nu; i++) {
                                        if (u[i] == "") continue
                                        for (j = 1; j <= ns; j++)
                                                if (s[j] != "")
                                                        printf "%s\t%s\t%s\n", u[i], s[j], signed
                                }
                        }
                }
                types = uris = suites = comps = signed = enabled = field = ""
        }
        BEGIN { types = uris = suites = comps = signed = enabled = field = "" }
        /^#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ {
                # continuation: multi-valued fields go on; an inline Signed-By key is dropped
                if (field == "uris") uris = uris " " $0
                else if (field == "suites") suites = suites " " $0
                else if (field == "components") comps = comps " " $0
                else if (field == "types") types = types " " $0
                else if (field == "signed-by") signed = ""
                next
        }
        {
                colon = index($0, ":")
                if (colon == 0) { field = ""; next }
                field = tolower(substr($0, 1, colon - 1))
                value = substr($0, colon + 1)
                gsub(/^[ \t]+|[ \t]+$/, "", value)
                if (field == "types") types = value
                else if (field == "uris") uris = value
                else if (field == "suites") suites = value
                else if (field == "components") comps = value
                else if (field == "signed-by") signed = value
                else if (field == "enabled") enabled = tolower(value)
        }
        END { flush() }'
}

# mg_pick_mirror APT_ETC_DIR SUITE
# Prints URI<TAB>SIGNED_BY of the first entry for SUITE exactly; failing that, of the first
# entry for any plain Debian release name (a builder on another release can still build
# SUITE from the same mirror). Returns 1 when there is none.
mg_pick_mirror() {
        local etc=$1 suite=$2 uri s signed fallback=""
        while IFS=$'\t' read -r uri s signed; do
                if [[ $s == "$suite" ]]; then
                        printf '%s\t%s\n' "${uri%/}" "$signed"
                        return 0
                fi
                if [[ -z $fallback && $MG_DEBIAN_SUITES == *" $s "* ]]; then
                        fallback=$(printf '%s\t%s' "${uri%/}" "$signed")
                fi
        done < <(mg_list_entries "$etc")
        [[ -n $fallback ]] || return 1
        printf '%s\n' "$fallback"
}
