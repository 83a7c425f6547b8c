#!/bin/sh
set -e
echo "$GREETING"
cat "$TARGET/files/motd"
{
    echo "built by: $PACKER_BUILD_NAME ($PACKER_BUILDER_TYPE)"
    echo "files on the machine:"
    find "$TARGET" -type f | sort
} > "$TARGET/report.txt"
echo "wrote $TARGET/report.txt"
