#!/usr/bin/env bash
# Writes tplab's man page, tplab.1, from the binary's own --help and each subcommand's --help,
# so the page says what the binary says (the build runs it after linking tplab; no help2man).
# The help is laid out for 100 columns already: the page shows it unindented, as it is.
# Usage: man_page.sh TPLAB_BINARY OUTPUT_FILE
set -euo pipefail

tplab=$1
out=$2

# roff_text: the help text as it is, in no-fill mode: backslashes escaped, and a line that starts
# with . or ' protected (roff would read it as a request).
roff_text() {
    sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" -e "s#$tplab#tplab#g"
}

help=$("$tplab" --help)
version=$("$tplab" --version)
subcommands=$(sed -n '/^Subcommands:/,$s/^  \([a-z][a-z-]*\) .*/\1/p' <<<"$help")
[[ -n "$subcommands" ]] || { echo "man_page.sh: no subcommands in $tplab --help" >&2; exit 1; }

tmp="$out.tmp"
{
    printf '.TH TPLAB 1 "" "%s" "User Commands"\n' "$version"
    printf '.SH NAME\n'
    printf 'tplab \\- teach, compare and run transparent proxies on Linux (REDIRECT, TPROXY)\n'
    printf '.SH SYNOPSIS\n'
    printf '.B tplab\n\\fISUBCOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n'
    printf '.B tplab lab\n\\fINAME\\fR [\\fILAB OPTIONS\\fR]\n'
    printf '.SH DESCRIPTION\n.in 0\n.nf\n'
    roff_text <<<"$help"
    printf '.fi\n.SH COMMANDS\n'
    for command in $subcommands; do
        printf '.SS "tplab %s"\n.in 0\n.nf\n' "$command"
        "$tplab" "$command" --help | roff_text
        printf '.fi\n'
    done
    printf '.SH EXIT STATUS\n'
    printf '0 success, 1 a setup failure (a system call failed), 2 bad input (one line says what).\n'
    printf 'tplab doctor: 1 warnings, 3 failures. tplab lab: the exit status of the lab (4: skipped).\n'
    printf '.SH FILES\n'
    printf '.TP\n.I PREFIX/share/tplab/labs\nthe labs that tplab lab runs (PREFIX: where tplab is installed, /usr or /usr/local)\n'
    printf '.TP\n.I PREFIX/share/doc/tplab\nthe documentation; teaching/ is the instructor'"'"'s kit\n'
    printf '.SH SEE ALSO\n'
    printf '.BR iptables-extensions (8),\n.BR ip-rule (8),\n.BR nft (8),\n.BR conntrack (8)\n'
} >"$tmp"
mv -f "$tmp" "$out"
