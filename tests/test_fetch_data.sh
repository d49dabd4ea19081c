#!/usr/bin/env bash
# tools/fetch_data.sh checks every file against its published MD5 before it
# uses or unpacks it. Without internet the downloads come from a local fake
# mirror (MOTIVE_FETCH_MIRROR=file://...) whose files are well-formed (gzip
# files, tar archives holding the expected folders) but not the published
# ones: each data set must be refused with exit 1 and one line naming the file,
# leaving nothing downloaded or unpacked. A wrong file already in place is
# refused and kept; and verify accepts a file exactly when its MD5 is the one
# listed for its name.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
script=$repo/tools/fetch_data.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_fetch_data: FAIL: $*" >&2; exit 1; }

# The fake mirror: every file the script fetches, under its own name.
mirror=$tmp/mirror
mkdir -p "$mirror"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  echo "not $f" | gzip > "$mirror/$f.gz"
done
archive() {  # NAME DIR...: a tar.gz holding the given (empty-file) folders
  local src=$tmp/src/$1
  mkdir -p "$src"
  for d in "${@:2}"; do mkdir -p "$src/$d" && echo x > "$src/$d/file"; done
  tar -czf "$mirror/$1" -C "$src" "${@:2}"
}
archive cifar-10-binary.tar.gz cifar-10-batches-bin
archive cifar-100-binary.tar.gz cifar-100-binary
archive 102flowers.tgz jpg
archive images.tar.gz images
archive annotations.tar.gz annotations
echo "not a .mat file" > "$mirror/imagelabels.mat"
echo "not a .mat file" > "$mirror/setid.mat"

# expect_refusal DATASET FILE: fetching DATASET from the mirror exits 1 with one
# line naming FILE (after curl's progress meter), and nothing is downloaded or
# unpacked.
expect_refusal() {
  local data=$tmp/data-$1 out rc=0
  out=$(MOTIVE_FETCH_MIRROR="file://$mirror" bash "$script" --root "$data" "$1" 2>&1) || rc=$?
  [[ $rc -eq 1 ]] || fail "$1: exit code $rc, expected 1; output: $out"
  [[ $(grep -c '^fetch_data:' <<< "$out") -eq 1 ]] || fail "$1: not one line of ours: $out"
  out=$(tail -n 1 <<< "$out")
  [[ $out == *"$2 from file://$mirror/$2 has MD5 "*", not its published MD5 "*"refused"* ]] ||
    fail "$1: the message does not name $2 and its MD5: $out"
  local left
  left=$(find "$data" -type f)
  [[ -z $left ]] || fail "$1: files left behind: $left"
  for unpacked in cifar-10-batches-bin cifar-100-binary jpg images annotations; do
    [[ -z $(find "$data" -name "$unpacked") ]] || fail "$1: $unpacked was unpacked"
  done
}
expect_refusal mnist train-images-idx3-ubyte.gz
expect_refusal cifar10 cifar-10-binary.tar.gz
expect_refusal cifar100 cifar-100-binary.tar.gz
expect_refusal flowers102 102flowers.tgz
expect_refusal pets images.tar.gz

# A wrong archive already in place: refused, kept, not unpacked (no mirror:
# nothing is downloaded when the file is present).
mkdir -p "$tmp/present"
cp "$mirror/cifar-10-binary.tar.gz" "$tmp/present/"
rc=0
out=$(bash "$script" --root "$tmp/present" cifar10 2>&1) || rc=$?
[[ $rc -eq 1 ]] || fail "present file: exit code $rc, expected 1; output: $out"
[[ $out == *"$tmp/present/cifar-10-binary.tar.gz has MD5 "*"delete it and run again"* ]] ||
  fail "present file: the message does not name it: $out"
[[ -f $tmp/present/cifar-10-binary.tar.gz ]] || fail "present file: it was deleted"
[[ ! -e $tmp/present/cifar-10-batches-bin ]] || fail "present file: it was unpacked"

# verify itself: the listed digest passes, one changed byte does not.
(
  source "$script"
  cd "$tmp"
  printf 'published bytes' > good.bin
  published_md5[good.bin]=$(md5sum < good.bin | cut -d' ' -f1)
  verify good.bin good.bin "good.bin" "-" || fail "verify refused a file with the listed MD5"
  printf 'published byteS' > good.bin
  if verify good.bin good.bin "good.bin" "-" 2>/dev/null; then fail "verify accepted a changed file"; fi
)
echo "test_fetch_data: ok"
