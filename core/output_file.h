#pragma once
/// \file
/// How vmakit writes what it outputs, in one place for every front end:
/// files (`--svg`) go to a temporary file beside the target and are renamed
/// over it only when complete, so a failed run never leaves a truncated or
/// empty file where a good one was; an output never overwrites an input;
/// and a failed write, stdout's included, is an error, not silence.

#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace vma {

/// Writes `data` to `path`. A regular file (or a new one) is written as a
/// temporary file in the same directory (mode 0666 less the umask, or the
/// old file's mode) and renamed over `path` when every byte is written and
/// closed; a symbolic link is followed, so the link stays. Anything else
/// that exists (a device such as /dev/full or /dev/stdout, a FIFO) is
/// written in place. `what` names the option in errors: "--svg FILE: cannot
/// write: No space left on device". An empty `path` is an error.
Result<void> write_output_file(const std::string& path, std::string_view data, std::string_view what);

/// An error when `output` is the same file as one of `inputs` (same device
/// and inode, so links and other spellings count):
/// "--svg X: is the input X too; refusing to overwrite it". Inputs that do
/// not exist are ignored, and so is an output that does not exist yet.
Result<void> check_output_not_input(const std::string& output, const std::vector<std::string>& inputs,
                                    std::string_view what);

/// Flushes std::cout and stdout. An error "write error: <strerror>" when any
/// write to them failed (a full disk, /dev/full, a closed pipe), so that a
/// front end says so on stderr and exits non-zero.
Result<void> flush_stdout();

}  // namespace vma
