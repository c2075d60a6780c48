#!/usr/bin/env bash
# Fetch the three.js files that OUT/viewer.html inlines (the 3D viewer) from the npm registry:
# `npm pack three@PINNED` into $UNVEIL_CACHE/viewer, keep build/three.module.min.js (MIT, its
# licence header stays in the file), examples/jsm/loaders/GLTFLoader.js and the one module it
# imports (examples/jsm/utils/BufferGeometryUtils.js; both MIT, same package) for the skinned
# meshes, and the package's LICENSE. Idempotent; without npm or network it says so and exits 0 (the
# exporter then writes the 2D-canvas viewer, or the 3D one without meshes when only the loader is
# missing).
set -euo pipefail
THREE_VERSION=0.170.0   # the last release whose three.module.min.js is one file (0.171 splits out three.core)
CACHE=${UNVEIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/unveil}
DEST="$CACHE/viewer"
OUT="$DEST/three-$THREE_VERSION.module.min.js"
GLTF="$DEST/three-$THREE_VERSION.GLTFLoader.js"
BGU="$DEST/three-$THREE_VERSION.BufferGeometryUtils.js"
if [ -s "$OUT" ] && [ -s "$GLTF" ] && [ -s "$BGU" ]; then echo "viewer assets: $DEST present"; exit 0; fi
if ! command -v npm >/dev/null; then
  echo "viewer assets: npm not found; viewer.html will be the 2D-canvas fallback" >&2; exit 0
fi
mkdir -p "$DEST"
TMP=$(mktemp -d "$DEST/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
if ! (cd "$TMP" && npm pack --silent "three@$THREE_VERSION" >/dev/null); then
  echo "viewer assets: npm pack three@$THREE_VERSION failed; viewer.html will be the 2D-canvas fallback" >&2
  exit 0
fi
tar xzf "$TMP/three-$THREE_VERSION.tgz" -C "$TMP" package/build/three.module.min.js package/LICENSE \
  package/examples/jsm/loaders/GLTFLoader.js package/examples/jsm/utils/BufferGeometryUtils.js
head -c 200 "$TMP/package/build/three.module.min.js" | grep -q "SPDX-License-Identifier: MIT"
cp "$TMP/package/LICENSE" "$DEST/three-$THREE_VERSION.LICENSE"
mv "$TMP/package/examples/jsm/utils/BufferGeometryUtils.js" "$BGU.part" && mv "$BGU.part" "$BGU"
mv "$TMP/package/examples/jsm/loaders/GLTFLoader.js" "$GLTF.part" && mv "$GLTF.part" "$GLTF"
mv "$TMP/package/build/three.module.min.js" "$OUT.part" && mv "$OUT.part" "$OUT"
echo "viewer assets: wrote $OUT, $GLTF, $BGU"
