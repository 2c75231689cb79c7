#!/bin/sh
# Builds switchyard/base and then every app image on it. Run from anywhere; TAG defaults to 0.1.0.
#   tools/deploy/docker/build-images.sh [tag]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tag=${1:-0.1.0}
docker build -f "$here/Dockerfile.base" -t "switchyard/base:$tag" "$root"
for f in "$here"/Dockerfile.*; do
  app=${f##*/Dockerfile.}
  case $app in base | *.dockerignore) continue ;; esac
  docker build --build-arg "BASE=switchyard/base:$tag" -f "$f" -t "switchyard/$app:$tag" "$here"
done
