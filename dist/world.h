// The processes of a data-parallel job (docs/distributed.md). A program
// launched by mpirun (or another MPI launcher: Slurm's srun, MPICH's hydra)
// is one rank of a world of N; launched any other way it is rank 0 of a world
// of 1 and nothing here talks to anyone. MPI does the launch, the rendezvous
// and the CPU collectives; dist/nccl.h adds NCCL for buffers on the GPU.
//
// Faults: MPI_COMM_WORLD keeps MPI's default handler, errors are fatal, so a
// failed collective ends the process, and mpirun ends the whole job when any
// rank exits abnormally (killed, or non-zero), naming that rank. A rank that
// fails with a motive::Error calls abort() instead of returning: a plain exit
// would leave the others waiting in their next collective until mpirun
// noticed, and MPI_Finalize would wait for them. A rank that hangs without
// dying is caught by a watchdog: a collective that has not finished after
// MOTIVE_COLLECTIVE_TIMEOUT seconds (default 600) ends its process with one
// line, and mpirun then ends the job.
//
// The layer sits between the engine and the trainer: the engine and the
// kernels know nothing of processes.
#pragma once
#include <cstdint>
#include <string>

namespace motive::dist {

// Compiled with MPI (CMake option MOTIVE_MPI).
bool mpi_built();

// Joins the job when the environment says an MPI launcher started this
// process (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK set); otherwise does
// nothing. Call once, first thing in main. Throws motive::Error when the
// launcher asks for more than one rank of a build without MPI.
void init(int* argc, char*** argv);
// Leaves the job at a normal exit (MPI_Finalize); nothing outside one.
void finalize();
// Ends every rank of the job with exit code `code` (MPI_Abort); a plain exit
// outside a job.
[[noreturn]] void abort(int code);

int rank();        // 0 .. world_size() - 1
int world_size();  // 1 outside a job
// This rank's index among the ranks on its machine (the GPU it uses).
int local_rank();
// "mpi" inside a job, "none" outside one.
std::string backend();

// In place, on host memory, over every rank; every rank gets the same bits.
void allreduce_sum(float* data, int64_t count);
void allreduce_sum(double* data, int64_t count);
void allreduce_max(double* data, int64_t count);
// Rank `root`'s bytes to every rank.
void broadcast(void* data, int64_t bytes, int root);

// Non-blocking sums (MPI_Iallreduce), to overlap the gradients' allreduce with
// backward. They run on a communicator of their own (a duplicate of the
// world's): a rank may start them before or after the blocking collectives
// above (a rank whose shard is empty starts its sums after the loss's
// allreduce, the others during backward, before it), but every rank must
// start them in the same order among themselves.
// Starts summing `data` in place over every rank; `data` must stay untouched
// until wait_sums() returns.
void start_sum(float* data, int64_t count);
// Lets MPI move the started sums on without waiting (MPI_Testall): Open MPI
// advances a non-blocking collective only inside MPI calls.
void progress_sums();
// Waits until every started sum is done. The collective watchdog covers the
// wait.
void wait_sums();

}  // namespace motive::dist
