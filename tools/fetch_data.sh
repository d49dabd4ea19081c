#!/usr/bin/env bash
# Downloads data sets and arranges them where the trainer looks for them
# (data/registry.h): under the data root, $MOTIVE_DATA_ROOT or
# ~/.local/share/motive/datasets, or the directory given with --root.
#
#   tools/fetch_data.sh [--root DIR] NAME...
#   NAME: mnist | cifar10 | cifar100 | flowers102 | pets | all
#
#   mnist       R/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz    --data mnist
#   cifar10     R/cifar-10-batches-bin/ (the official binary archive)       --data cifar10
#   cifar100    R/cifar-100-binary/     (the official binary archive)       --data cifar100
#   flowers102  R/flowers102/{train,val,test}/<class 001..102>/*.jpg        --data folder:flowers102
#   pets        R/oxford-pets/{train,test}/<breed>/*.jpg                    --data folder:oxford-pets
# Fashion-MNIST needs no download: tools/setup.sh installs Debian's
# dataset-fashion-mnist.
#
# It needs internet access (curl) and, for flowers102, python3 with scipy (to
# read the split's .mat files). A few Pets files are not decodable JPEGs: the
# image-folder reader stops at the first one, naming it; delete those files
# (`trainer train` has no option to skip them; a program using the data
# library can set DataSpec::skip_bad). The project's own machines have no
# internet, so the tests and CI never download: the readers are tested on small
# files the tests write per each format's specification, and
# tests/test_fetch_data.sh runs this script against a local fake mirror.
#
# Every file is checked against its published MD5 before it is used or
# unpacked; a mismatch is one line naming the file, exit 1. A freshly
# downloaded file that mismatches is deleted; one already present is kept (and
# refused) so that nothing is lost: delete it and run again.
#
# MOTIVE_FETCH_MIRROR=URL fetches every file as URL/<file name> instead of from
# its publisher (any URL curl reads, file:// included).
set -euo pipefail

# The published MD5 of every file this script downloads, by file name:
#  - MNIST: torchvision's MNIST.resources (torchvision/datasets/mnist.py,
#    torchvision 0.29), whose first mirror is the one used here.
#  - CIFAR: https://www.cs.toronto.edu/~kriz/cifar.html, the authors' table,
#    rows "CIFAR-10 binary version" and "CIFAR-100 binary version"
#    (torchvision downloads the python versions, whose sums differ).
#  - Flowers-102: torchvision's Flowers102._file_dict (flowers102.py).
#  - Oxford-IIIT Pets: torchvision's OxfordIIITPet._RESOURCES (oxford_iiit_pet.py).
declare -A published_md5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
  [cifar-10-binary.tar.gz]=c32a1d4ab5d03f1284b67883e8d87530
  [cifar-100-binary.tar.gz]=03b5dce01913d631647c71ecec9e9cb8
  [102flowers.tgz]=52808999861908f626f3c1f4e79d11fa
  [imagelabels.mat]=e0620be6f572b9609742df49c70aed4d
  [setid.mat]=a5357ecc9cb78c4bef273ce3793fc85c
  [images.tar.gz]=5c4f3ee8e5d25df40f4fd59a7f44e54c
  [annotations.tar.gz]=95a8c909bbe2e81eed6a22bccdf3f68f
)

# verify NAME FILE WHAT ADVICE: whether FILE has the published MD5 of NAME;
# if not, says so on stderr, naming the file as WHAT and ending with ADVICE.
verify() {
  local expected=${published_md5[$1]:-} actual
  [[ -n $expected ]] || { echo "fetch_data: no published MD5 for $1" >&2; exit 1; }
  actual=$(md5sum < "$2")
  actual=${actual%% *}
  [[ $actual == "$expected" ]] && return 0
  echo "fetch_data: $3 has MD5 $actual, not its published MD5 $expected: refused ($4)" >&2
  return 1
}

fetch() {  # URL -> the file's name in the current directory, downloaded when absent, verified
  local name=${1##*/}
  local url=${MOTIVE_FETCH_MIRROR:+${MOTIVE_FETCH_MIRROR%/}/$name}
  url=${url:-$1}
  if [[ -e $name ]]; then
    verify "$name" "$name" "$PWD/$name" "left as is, nothing unpacked; delete it and run again" ||
      exit 1
    return
  fi
  curl -fL --retry 3 -o "$name.part" "$url" || { echo "fetch_data: could not download $url" >&2; exit 1; }
  if ! verify "$name" "$name.part" "$name from $url" "deleted, nothing unpacked"; then
    rm -f "$name.part"
    exit 1
  fi
  mv "$name.part" "$name"
}

mnist() {
  mkdir -p mnist && cd mnist
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    fetch "https://ossci-datasets.s3.amazonaws.com/mnist/$f.gz"
  done
  cd ..
}

cifar() {  # archive name, directory it unpacks to
  fetch "https://www.cs.toronto.edu/~kriz/$1"
  [[ -d $2 ]] || tar -xzf "$1"
}

flowers102() {
  mkdir -p flowers102/.download && cd flowers102/.download
  local base=https://www.robots.ox.ac.uk/~vgg/data/flowers/102
  fetch "$base/102flowers.tgz"
  fetch "$base/imagelabels.mat"
  fetch "$base/setid.mat"
  [[ -d jpg ]] || tar -xzf 102flowers.tgz
  # The official split: trnid / valid / tstid (1,020 / 1,020 / 6,149 images).
  python3 - <<'PY'
import os, scipy.io
labels = scipy.io.loadmat("imagelabels.mat")["labels"][0]
sets = scipy.io.loadmat("setid.mat")
for split, key in (("train", "trnid"), ("val", "valid"), ("test", "tstid")):
    for i in sets[key][0]:
        name = f"image_{i:05d}.jpg"
        d = os.path.join("..", split, f"{labels[i - 1]:03d}")
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, name)
        if not os.path.exists(dst):
            os.link(os.path.join("jpg", name), dst)
PY
  cd ../..
}

pets() {
  mkdir -p oxford-pets/.download && cd oxford-pets/.download
  local base=https://www.robots.ox.ac.uk/~vgg/data/pets/data
  fetch "$base/images.tar.gz"
  fetch "$base/annotations.tar.gz"
  [[ -d images ]] || tar -xzf images.tar.gz
  [[ -d annotations ]] || tar -xzf annotations.tar.gz
  # annotations/{trainval,test}.txt: "<Breed_name>_<n> <class id> <species> <breed id>".
  for split in trainval test; do
    out=$([[ $split == trainval ]] && echo train || echo test)
    grep -v '^#' "annotations/$split.txt" | while read -r image _; do
      breed=${image%_*}
      mkdir -p "../$out/$breed"
      [[ -e ../$out/$breed/$image.jpg ]] || ln "images/$image.jpg" "../$out/$breed/$image.jpg"
    done
  done
  cd ../..
}

main() {
  root=${MOTIVE_DATA_ROOT:-$HOME/.local/share/motive/datasets}
  if [[ ${1:-} == --root ]]; then
    root=$2
    shift 2
  fi
  [[ $# -gt 0 ]] || { sed -n '2,/^set /p' "$0" | grep '^#'; exit 2; }
  mkdir -p "$root"
  cd "$root"
  for name in "$@"; do
    case $name in
      mnist) mnist ;;
      cifar10) cifar cifar-10-binary.tar.gz cifar-10-batches-bin ;;
      cifar100) cifar cifar-100-binary.tar.gz cifar-100-binary ;;
      flowers102) flowers102 ;;
      pets) pets ;;
      all) mnist; cifar cifar-10-binary.tar.gz cifar-10-batches-bin
           cifar cifar-100-binary.tar.gz cifar-100-binary; flowers102; pets ;;
      *) echo "fetch_data: unknown data set '$name' (mnist, cifar10, cifar100, flowers102, pets, all)" >&2
         exit 2 ;;
    esac
    echo "fetch_data: $name is in $root"
  done
}

# Sourced (tests/test_fetch_data.sh), the script only defines its functions.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
