// Loader throughput in images/s, one next() batch per iteration, prefetch 4,
// on 2 worker threads (as on the project's 2-core CPU machine) and, where the
// machine has more, on one worker per hardware thread:
//  - 32x32x3 in memory (CIFAR-shaped, 10,000 random images), batch 256:
//    pad-4 random crop + flip + per-channel normalise. Goal: >= 100,000/s on
//    2 cores, so that the 16-core GPU machine's loader is never the bottleneck.
//  - 224x224: JPEG decode (stb_image, 500x375 quality-90 files written here)
//    + random-resized-crop (stb resize) + flip + normalise, batch 64.
//  - with a GPU: the 32x32 case delivered into device memory (pinned buffers,
//    copy stream), the whole path a CUDA training step sees.
// Peer row: the same 32x32 batch as a plain normalising copy on one thread
// (to_float_batch: no crop, no flip, no shuffle): the memory-bound floor.
#include <benchmark/benchmark.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/idx.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/parallel.h"
#include "engine/device.h"
#include "engine/dispatch.h"
#include "engine/random.h"
#include "kernels/cuda/runtime.h"

using namespace motive;

namespace {

ImageDataset random_cifar(int64_t count) {
  ImageDataset ds;
  ds.count = count;
  ds.height = ds.width = 32;
  ds.channels = 3;
  ds.num_classes = 10;
  ds.pixels.resize(static_cast<size_t>(count * 32 * 32 * 3));
  for (size_t i = 0; i < ds.pixels.size(); ++i)
    ds.pixels[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  for (int64_t i = 0; i < count; ++i) ds.labels.push_back(static_cast<int32_t>(i % 10));
  return ds;
}

// Runs the loader for the benchmark's iterations (one batch each) and reports images/s.
void run_loader(benchmark::State& state, Loader& loader) {
  int64_t images = 0;
  for (auto _ : state) {
    auto batch = loader.next();
    if (!batch) batch = loader.next();  // an epoch ended: carry on with the next
    images += batch->images.size(0);
    benchmark::DoNotOptimize(batch->images.raw_data());
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
}

LoaderOptions options(int64_t batch, int workers, Device device = Device::CPU) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.prefetch = 4;
  o.device = device;
  return o;
}

void BM_Loader32CropFlipNormalise(benchmark::State& state, int workers, Device device) {
  Augment a;
  a.crop = Crop::RandomPad;
  a.padding = 4;
  a.flip = true;
  a.normalize = {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
  Loader loader(in_memory(random_cifar(10000)), a, options(256, workers, device));
  run_loader(state, loader);
  if (device == Device::CUDA) MOTIVE_CUDA_ONLY(cuda::synchronize());
}

void BM_PeerNormaliseCopy32(benchmark::State& state) {
  const ImageDataset ds = random_cifar(10000);
  int64_t images = 0, begin = 0;
  for (auto _ : state) {
    const Tensor x = to_float_batch(ds, begin, 256, 0.48f, 0.25f);
    benchmark::DoNotOptimize(x.raw_data());
    begin = (begin + 256) % (ds.count - 256);
    images += 256;
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
}

// A folder of 64 photo-sized JPEGs (smooth gradients plus noise, so they
// compress like photographs rather than like noise), written on first use and
// removed at exit.
class JpegFolder {
 public:
  JpegFolder()
      : dir_((std::filesystem::temp_directory_path() /
              ("motive_bench_jpeg_" + std::to_string(getpid())))
                 .string()) {
    const int w = 500, h = 375;
    Generator gen(0);
    const Tensor noise = rand_uniform({h, w, 3}, 0, 24, gen);
    std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
    for (int img = 0; img < 64; ++img) {
      for (size_t i = 0; i < px.size(); ++i) {
        const int x = static_cast<int>(i / 3 % w), y = static_cast<int>(i / 3 / w);
        const int c = static_cast<int>(i % 3);
        px[i] = static_cast<uint8_t>((x * (c + 1) + y * (3 - c) + img * 17) % 232 +
                                     noise.data<float>()[i]);
      }
      const std::string cls = dir_ + "/class" + std::to_string(img % 4);
      std::filesystem::create_directories(cls);
      stbi_write_jpg((cls + "/" + std::to_string(img) + ".jpg").c_str(), w, h, 3, px.data(), 90);
    }
  }
  ~JpegFolder() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

void BM_Loader224JpegRandomResizedCrop(benchmark::State& state, int workers) {
  Augment a;
  a.crop = Crop::RandomResized;
  a.size = 224;
  a.flip = true;
  a.normalize = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  static const JpegFolder folder;
  Loader loader(open_image_folder(folder.dir()), a, options(64, workers));
  run_loader(state, loader);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<int> worker_counts = {2};
  if (default_threads() > 2) worker_counts.push_back(default_threads());
  benchmark::RegisterBenchmark("PeerNormaliseCopy32/threads:1", BM_PeerNormaliseCopy32)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0)
      ->UseRealTime();
  for (int w : worker_counts)
    benchmark::RegisterBenchmark(
        ("Loader32CropFlipNormalise/cpu/workers:" + std::to_string(w)).c_str(),
        BM_Loader32CropFlipNormalise, w, Device::CPU)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(2.0)
        ->UseRealTime();
  if (cuda_available())
    for (int w : worker_counts)
      benchmark::RegisterBenchmark(
          ("Loader32CropFlipNormalise/cuda/workers:" + std::to_string(w)).c_str(),
          BM_Loader32CropFlipNormalise, w, Device::CUDA)
          ->Unit(benchmark::kMillisecond)
          ->MinTime(2.0)
          ->UseRealTime();
  for (int w : worker_counts)
    benchmark::RegisterBenchmark(
        ("Loader224JpegRandomResizedCrop/workers:" + std::to_string(w)).c_str(),
        BM_Loader224JpegRandomResizedCrop, w)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(3.0)
        ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
