#!/usr/bin/env bash
# Print the base image's name, building it first when no image of this recipe exists.
# The tag is the recipe's checksum, so the image is rebuilt exactly when build.sh changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tag=$(sha256sum "$here/image/build.sh" | cut -c1-12)
image="otap-street-base:$tag"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  "$here/image/build.sh" "$image" >&2
fi
echo "$image"
