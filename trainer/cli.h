// The command-line contract of motive's programs (docs/architecture.md, errors): --help prints
// and exits 0; a bad flag or bad input (motive::Error) is one line on stderr
// and exit code 2; a run stopped by SIGINT/SIGTERM is one line and 128 + the
// signal (trainer/interrupt.h); any other failure is one line and exit code 1.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "engine/error.h"
#include "trainer/interrupt.h"

namespace motive {

// Parses `app`, then calls `run`; returns the process exit code. `program`
// prefixes the error line ("trainer: unknown model ...").
inline int run_cli(CLI::App& app, int argc, char** argv, const char* program,
                   const std::function<void()>& run) {
  // CLI11's default adds a second line ("Run with --help ..."): keep it to one.
  app.failure_message([program](const CLI::App*, const CLI::Error& e) {
    return std::string(program) + ": " + e.what() + " (--help lists the options)\n";
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    run();
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const Interrupted& e) {
    if (*e.what() != '\0') std::fprintf(stderr, "%s: %s\n", program, e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace motive
