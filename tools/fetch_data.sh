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
# read the split's .mat files). A few Pets files are not decodable JPEGs:
# train on it with bad images skipped (--skip-bad). The project's own machines
# have no internet, so neither the tests nor CI run this script; the readers
# are tested on small files the tests write per each format's specification.
set -euo pipefail

root=${MOTIVE_DATA_ROOT:-$HOME/.local/share/motive/datasets}
if [[ ${1:-} == --root ]]; then
  root=$2
  shift 2
fi
[[ $# -gt 0 ]] || { sed -n '2,/^set /p' "$0" | grep '^#'; exit 2; }
mkdir -p "$root"
cd "$root"

fetch() {  # URL -> the file's name in the current directory, skipped when present
  local name=${1##*/}
  if [[ ! -s $name ]]; then
    curl -fL --retry 3 -o "$name.part" "$1" || { echo "fetch_data: could not download $1" >&2; exit 1; }
    mv "$name.part" "$name"
  fi
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
