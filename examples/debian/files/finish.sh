#!/bin/sh
# Last step: fix permissions and leave nothing the image does not need.
set -eu
chmod 755 /usr/local/bin/hello
chown -R www:www /srv/www
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
echo "image contents ready:"
/usr/local/bin/hello
