# Sourced by the benchmark scripts (from the repository root): `need TOOL...` stops the
# benchmark, naming the Debian package to install, when a program or file it uses is
# missing. Tools and packages come from tests/debian-packages.txt, the one list that
# tests/run installs.
need() {
    for tool in "$@"; do
        package=$(sed -e 's/#.*//' tests/debian-packages.txt |
            awk -v t="$tool" '{ for (i = 2; i <= NF; i++) if ($i == t) { print $1; exit } }')
        if [ -z "$package" ]; then
            echo "benchmark: $tool is not listed in tests/debian-packages.txt" >&2
            exit 1
        fi
        case "$tool" in
        /*) [ -e "$tool" ] ;;
        *) command -v "$tool" >/dev/null 2>&1 ;;
        esac || {
            echo "benchmark: $tool is required: apt-get install $package (or run tests/run once)" >&2
            exit 1
        }
    done
}
