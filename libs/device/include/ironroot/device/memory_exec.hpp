// Starting a verified program from memory. The bootloader hands over the bytes it verified; they
// are copied into a sealed memfd and executed from there (fexecve), so nothing on disk is read
// between verification and execution, and nothing can change the program once it is sealed.
#pragma once

#include <string>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace ironroot::device {

struct ProgramExit {
  int exit_code = 0;  // when it exited
  int signal = 0;     // the signal that ended it; 0 when it exited
  bool killed() const { return signal != 0; }
  // "exit code 75", "killed by signal 9 (Killed)".
  std::string describe() const;
};

struct ProgramLaunch {
  std::string name = "program";          // argv[0], and the memfd's name in /proc/PID/exe
  std::vector<std::string> arguments;    // argv[1...]
  std::vector<std::string> environment;  // "NAME=value": added to this process's, overriding it
  bool stdout_to_stderr = false;         // send the program's stdout to this process's stderr
};

// Copies `executable` (an ELF executable's bytes) into a memfd, seals it against writes, growing
// and shrinking, and runs it in a child process with fexecve; standard input, output and error are
// this process's (stdout redirected when asked). Waits for the child and says how it ended. Fails
// without running anything when the program cannot start (not an ELF executable for this machine,
// say). Only ELF executables: the memfd is close-on-exec, so a #! script could not reopen it.
// REQUIRES: a single-threaded caller (it forks).
Result<ProgramExit> run_from_memory(ByteView executable, const ProgramLaunch& launch);

}  // namespace ironroot::device
