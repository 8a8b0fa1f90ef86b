#!/usr/bin/env bash
# The scale corpus of issue 18: over 2 GB of real code as Stack-format parquet shards, from
# packages this machine installs by name, for measuring how attribution and membership grow with
# the corpus. Never run in CI (it downloads ~400 MB and ingests for several minutes).
#
#   scripts/scale-corpus.sh            # or `make scale-corpus`
#
# Writes, under SCALE_DIR (var/scale):
#   cache/      the downloaded .deb files, at the versions pinned below (kept: a rerun reuses them)
#   shards/NAME one folder of shards per source, `.complete` once its ingest finished
#   heldout/NAME unpacked trees of code the corpus does not hold, for the benchmarks' novel inputs
#   corpus.json the manifest: each source's package, version, sha256 and ingest counts, written
#               last, so its presence means the whole corpus is there; a second run does nothing
#
# Index it with `starscope index var/scale/shards --out var/scale/index` (all folders at once).
# The sources, each ingested as one repository named after its folder (the package's name):
#   python-env          the demo corpus (`starscope ingest --python-env --max-total-mb 200`)
#   linux-source-6.1    Debian's kernel source tarball: C, heavy licence-header repetition
#   gcc-12-source       Debian's GCC tarball (dfsg), its testsuites included
#   openjdk-17-source   the JDK 17 class library's src.zip
#   golang-1.19-src     Go's standard library, commands and tests
#   binutils-source     Debian's binutils tarball (libiberty and include/ shared with GCC's)
#   rust-src            Rust's standard library and compiler sources
#   gdb-source          Debian's GDB tarball (bfd, opcodes, libiberty... again, as vendored copies)
#   erlang-src          Erlang/OTP's library sources
#   xorg-server-source  the X server's tarball (C)
#   openjfx-source      JavaFX's src.zip
#   temurin-25-jdk      the installed Temurin 25 JDK's lib/src.zip, when present (TEMURIN_SRC_ZIP);
#                       not installable by name, so the manifest records its sha256, or its absence
# Held out (never ingested; bench/attribution_scale_bench.py --novel draws inputs from them):
#   glibc-source        C of the kind the corpus holds (GNU and Linux licence headers included)
#   python3-django      Python of the kind the demo corpus holds, from a project it does not
# Pins: a version the archive no longer offers fails the download; pin the one `apt-cache policy
# PACKAGE` lists (the manifest says which versions a corpus was built from, so runs compare).
set -euo pipefail

SCALE_DIR=${SCALE_DIR:-var/scale}
STARSCOPE=${STARSCOPE:-.venv/bin/starscope}
PYTHON=${PYTHON:-.venv/bin/python}
PYTHON_ENV_MB=${PYTHON_ENV_MB:-200}
TEMURIN_SRC_ZIP=${TEMURIN_SRC_ZIP:-/usr/lib/jvm/temurin-25-jdk-amd64/lib/src.zip}
MIN_TOTAL_MIB=2048
PINS=(
  "linux-source-6.1=6.1.192-3"
  "gcc-12-source=12.2.0-14+deb12u1"
  "openjdk-17-source=17.0.21.1+2-1~deb12u1"
  "golang-1.19-src=1.19.8-2"
  "binutils-source=2.40-2"
  "rust-src=1.63.0+dfsg1-2"
  "gdb-source=13.1-3"
  "erlang-src=1:25.2.3+dfsg-1+deb12u4"
  "xorg-server-source=2:21.1.7-3+deb12u13"
  "openjfx-source=11.0.11+1-3"
)
HELDOUT_PINS=(
  "glibc-source=2.36-9+deb12u14"
  "python3-django=3:3.2.25-0+deb12u7"
)

CACHE=$SCALE_DIR/cache
SRC=$SCALE_DIR/src
SHARDS=$SCALE_DIR/shards
HELDOUT=$SCALE_DIR/heldout
INFO=$SCALE_DIR/sources
MANIFEST=$SCALE_DIR/corpus.json

if [ -f "$MANIFEST" ]; then
  echo "scale-corpus: $SHARDS is complete ($MANIFEST); delete $MANIFEST to assemble it again" >&2
  exit 0
fi
mkdir -p "$CACHE" "$SRC" "$SHARDS" "$INFO" "$HELDOUT"

# deb_file PACKAGE VERSION: the cached .deb of that exact version, downloaded once.
deb_file() {
  local package=$1 version=$2 found
  found=$(find "$CACHE" -maxdepth 1 -name "${package}_*.deb" -print | sort)
  for deb in $found; do
    if [ "$(dpkg-deb -f "$deb" Version)" = "$version" ]; then echo "$deb"; return 0; fi
  done
  echo "scale-corpus: downloading $package=$version" >&2
  if ! (cd "$CACHE" && apt-get download -q "$package=$version" >&2); then
    echo "scale-corpus: apt-get could not download $package=$version. If the package is unknown," \
         "refresh the package lists (\`apt-get update\`, as root) and run this again; if that" \
         "version is gone, pin one that \`apt-cache policy $package\` lists in $0" >&2
    exit 1
  fi
  for deb in "$CACHE/${package}"_*.deb; do
    if [ "$(dpkg-deb -f "$deb" Version)" = "$version" ]; then echo "$deb"; return 0; fi
  done
  echo "scale-corpus: $package=$version downloaded, but no such .deb in $CACHE" >&2
  exit 1
}

# unpack_deb NAME DEB DEST: the tree that the package NAME's source archive holds, as DEST.
unpack_deb() {
  local name=$1 deb=$2 dest=$3 work=$3.tmp tarball zip
  rm -rf "$work" "$dest"
  mkdir -p "$work/deb"
  dpkg-deb -x "$deb" "$work/deb"
  case "$name" in
    linux-source-*|gcc-*-source|binutils-source|gdb-source|xorg-server-source|glibc-source)
      # One source tarball inside (GCC's beside its Debian patches and extra front ends, which
      # are left out): its contents, without their top folder, become the tree.
      tarball=$(find "$work/deb/usr/src" -maxdepth 2 \( -name 'linux-source-*.tar.xz' \
                  -o -name 'gcc-*-dfsg.tar.xz' -o -name 'binutils-*.tar.xz' -o -name gdb.tar.xz \
                  -o -name xorg-server.tar.xz -o -name 'glibc-*.tar.xz' \) -print)
      [ "$(echo "$tarball" | wc -l)" = 1 ] && [ -n "$tarball" ] || {
        echo "scale-corpus: expected one source tarball in $deb, found: ${tarball:-none}" >&2; exit 1; }
      mkdir -p "$work/tree"
      tar -xJf "$tarball" -C "$work/tree" --strip-components=1
      mv "$work/tree" "$dest" ;;
    openjdk-*-source|openjfx-source)
      zip=$(find "$work/deb" -name src.zip -print)
      unzip -q "$zip" -d "$dest" ;;
    golang-*-src)
      local go=${name#golang-}
      mv "$work/deb/usr/share/go-${go%-src}" "$dest" ;;
    erlang-src)
      mv "$work/deb/usr/lib/erlang" "$dest" ;;
    rust-src)
      mv "$work"/deb/usr/src/rustc-* "$dest" ;;
    python3-*)
      mv "$work/deb/usr/lib/python3/dist-packages/${name#python3-}" "$dest" ;;
    *) echo "scale-corpus: no unpacking rule for $name" >&2; exit 1 ;;
  esac
  rm -rf "$work"
}

# ingest NAME ARGS...: `starscope ingest ARGS --out $SHARDS/NAME`, once; its counts kept in
# $INFO/NAME.ingest.json. A folder left without `.complete` (a killed run) is started over.
ingest() {
  local name=$1; shift
  if [ -f "$SHARDS/$name/.complete" ]; then return 0; fi
  rm -rf "${SHARDS:?}/$name"
  echo "scale-corpus: ingesting $name" >&2
  "$STARSCOPE" ingest "$@" --out "$SHARDS/$name" > "$INFO/$name.ingest.json"
  touch "$SHARDS/$name/.complete"
}

# source_info NAME KIND [KEY=VALUE...]: what the manifest says of NAME's origin.
source_info() {
  local name=$1 kind=$2; shift 2
  "$PYTHON" - "$INFO/$name.origin.json" "$name" "$kind" "$@" <<'EOF'
import json, sys
path, name, kind, *pairs = sys.argv[1:]
with open(path, "w") as out:
    json.dump({"name": name, "kind": kind, **dict(pair.split("=", 1) for pair in pairs)}, out)
EOF
}

ingest python-env --python-env --max-total-mb "$PYTHON_ENV_MB"
source_info python-env python-env "max_total_mb=$PYTHON_ENV_MB" \
  "python=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"

for pin in "${PINS[@]}"; do
  package=${pin%%=*} version=${pin#*=}
  if [ ! -f "$SHARDS/$package/.complete" ]; then
    deb=$(deb_file "$package" "$version")
    unpack_deb "$package" "$deb" "$SRC/$package"
    ingest "$package" "$SRC/$package"
    rm -rf "${SRC:?}/$package"
  fi
  deb=$(deb_file "$package" "$version")
  source_info "$package" deb "package=$package" "version=$version" \
    "deb=$(basename "$deb")" "sha256=$(sha256sum "$deb" | cut -d' ' -f1)"
done

if [ -f "$TEMURIN_SRC_ZIP" ]; then
  if [ ! -f "$SHARDS/temurin-25-jdk/.complete" ]; then
    rm -rf "$SRC/temurin-25-jdk"
    unzip -q "$TEMURIN_SRC_ZIP" -d "$SRC/temurin-25-jdk"
    ingest temurin-25-jdk "$SRC/temurin-25-jdk"
    rm -rf "$SRC/temurin-25-jdk"
  fi
  release=$(dirname "$(dirname "$TEMURIN_SRC_ZIP")")/release
  source_info temurin-25-jdk local-file "path=$TEMURIN_SRC_ZIP" \
    "sha256=$(sha256sum "$TEMURIN_SRC_ZIP" | cut -d' ' -f1)" \
    "version=$(sed -n 's/^JAVA_RUNTIME_VERSION="\(.*\)"$/\1/p' "$release" 2>/dev/null || true)"
else
  echo "scale-corpus: $TEMURIN_SRC_ZIP is absent; the corpus goes without temurin-25-jdk" \
       "(the manifest says so)" >&2
  rm -rf "${SHARDS:?}/temurin-25-jdk" "$INFO/temurin-25-jdk.ingest.json"
  source_info temurin-25-jdk absent "path=$TEMURIN_SRC_ZIP"
fi
rmdir "$SRC" 2>/dev/null || true

for pin in "${HELDOUT_PINS[@]}"; do
  package=${pin%%=*} version=${pin#*=}
  deb=$(deb_file "$package" "$version")
  if [ ! -f "$HELDOUT/$package/.complete" ]; then
    unpack_deb "$package" "$deb" "$HELDOUT/$package"
    touch "$HELDOUT/$package/.complete"
  fi
  source_info "$package" heldout "package=$package" "version=$version" \
    "deb=$(basename "$deb")" "sha256=$(sha256sum "$deb" | cut -d' ' -f1)" "tree=$HELDOUT/$package"
done

# The manifest, last: every source's origin and ingest counts, and the totals.
"$PYTHON" - "$INFO" "$MANIFEST" "$MIN_TOTAL_MIB" <<'EOF'
import json, pathlib, sys
info, manifest, min_total_mib = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
sources, heldout = [], []
for origin in sorted(info.glob("*.origin.json")):
    source = json.loads(origin.read_text())
    if source["kind"] == "heldout":
        heldout.append(source)
        continue
    counts = info / f"{source['name']}.ingest.json"
    source["ingest"] = json.loads(counts.read_text()) if counts.exists() else None
    sources.append(source)
ingested = [source["ingest"] for source in sources if source["ingest"]]
total = {"docs": sum(counts["docs_written"] for counts in ingested),
         "bytes": sum(counts["bytes_written"] for counts in ingested)}
for source in sources:
    counts = source["ingest"] or {"docs_written": 0, "bytes_written": 0}
    print(f"{source['name']:20} {source.get('version', ''):24} "
          f"{counts['docs_written']:>9,} docs {counts['bytes_written'] / 1e6:>9,.1f} MB", file=sys.stderr)
print(f"{'total':45} {total['docs']:>9,} docs {total['bytes'] / 1e6:>9,.1f} MB", file=sys.stderr)
for source in heldout:
    print(f"{source['name']:20} {source['version']:24} held out: {source['tree']}", file=sys.stderr)
if total["bytes"] < min_total_mib * 2**20:
    absent = [source["path"] for source in sources if source["kind"] == "absent"]
    sys.exit(f"scale-corpus: only {total['bytes'] / 2**20:,.0f} MiB of content, under the "
             f"{min_total_mib:,} MiB the scale measurements need; add a source to the script"
             + (f" (or provide {', '.join(absent)}, absent here)" if absent else ""))
manifest.write_text(json.dumps({"sources": sources, "total": total, "heldout": heldout}, indent=2) + "\n")
EOF
echo "scale-corpus: done; index it with: starscope index $SHARDS --out $SCALE_DIR/index" >&2
