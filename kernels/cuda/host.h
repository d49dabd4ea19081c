// Host-side CUDA plumbing for the data loader: page-locked (pinned) host
// buffers, a copy stream of its own, and events that order it against the
// compute stream. Declared without CUDA headers so data/ can include it; the
// CUDA types are named only by their opaque struct (what cudaEvent_t points
// to). Defined in host.cu, which exists in CUDA builds only: call these only
// for a CUDA target, behind MOTIVE_CUDA_ONLY (engine/dispatch.h).
#pragma once
#include <cstddef>

struct CUevent_st;

namespace motive::cuda {

using EventHandle = CUevent_st*;

// Page-locked host memory: the DMA engine reads it directly, so a copy from it
// is truly asynchronous (a copy from pageable memory is staged by the driver
// and blocks the calling thread). Out of memory throws motive::Error.
void* pinned_alloc(size_t nbytes);
void pinned_free(void* p) noexcept;

EventHandle event_create();  // no timing (cheaper to record and wait on)
void event_destroy(EventHandle e) noexcept;
// Blocks the calling thread until the work recorded in `e` is done (at once
// when `e` was never recorded).
void event_synchronize(EventHandle e);

// On the copy stream (created on first use, never the compute stream): waits
// for `after` (already-queued work that must finish first, e.g. the compute
// stream's last read of `dst`), copies nbytes from pinned `src` to device
// `dst`, then records `done`.
void copy_to_device_on_copy_stream(void* dst, const void* src, size_t nbytes, EventHandle after,
                                   EventHandle done);

// Makes the compute stream (cuda::stream()) wait for `e` without blocking the
// host, and records `e` on the compute stream, respectively.
void compute_stream_wait(EventHandle e);
void record_on_compute_stream(EventHandle e);

}  // namespace motive::cuda
