// What accelerators this process can use. GPU tests call cuda_available() and
// skip with one clear line when it is false (CPU-only builds, machines without
// a GPU such as CI).
#pragma once
#include <cstddef>
#include <string>

struct CUevent_st;  // what a CUDA event handle points to

namespace motive {

bool cuda_built();      // compiled with the CUDA backend (MOTIVE_CUDA)
bool cuda_available();  // built with CUDA and at least one device is usable
// One line for logs: "cuda: 1 device (NVIDIA H200, sm_90)" or why there is none.
std::string cuda_describe();

// TF32 tensor-core math for float32 GEMMs and convolutions on CUDA (10-bit
// mantissa inputs, fp32 accumulation: ~3e-4 relative error, several times the
// fp32 rate). Off by default so parity tests compare exact fp32; float64 and
// the CPU never change.
void set_allow_tf32(bool on);
bool allow_tf32();

// ---- feeding the device from host threads (data/loader) ----
// Page-locked (pinned) host buffers, which the DMA engine reads directly, so a
// copy from them is truly asynchronous; a copy stream of its own, so a batch's
// host-to-device copy overlaps the compute stream's kernels; and events that
// order the two streams without blocking the host (kernels/cuda/host.h has
// the details). In a build without CUDA every call that would do something
// throws motive::Error (the *_free/_destroy calls do nothing).
using DeviceEvent = CUevent_st*;

void* pinned_host_alloc(size_t nbytes);  // out of memory: motive::OutOfMemory
void pinned_host_free(void* p) noexcept;
DeviceEvent device_event_create();
void device_event_destroy(DeviceEvent e) noexcept;
// Blocks the calling thread until the work recorded in `e` is done (at once
// when `e` was never recorded).
void device_event_synchronize(DeviceEvent e);
// On the copy stream: waits for `after` (work already queued that must finish
// first, e.g. the compute stream's last read of `dst`), copies nbytes from
// pinned `src` to device `dst`, then records `done`.
void copy_to_device_on_copy_stream(void* dst, const void* src, size_t nbytes, DeviceEvent after,
                                   DeviceEvent done);
// The compute stream waits for `e` (the host does not); records `e` on the
// compute stream; copies device memory on the compute stream.
void compute_stream_wait(DeviceEvent e);
void record_on_compute_stream(DeviceEvent e);
void copy_device_to_device(void* dst, const void* src, size_t nbytes);

}  // namespace motive
