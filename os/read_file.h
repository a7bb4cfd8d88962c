#pragma once
/// \file
/// Whole-file reads. Separate reading from parsing: callers parse the text.

#include <string>

#include "result.h"

namespace vma::os {

/// Every byte of `path`, read to end of file (so /proc and /sys files, whose
/// size says 0, read whole). Errors name the path: "/x: No such file or
/// directory", "/etc: Is a directory"; errno is left as the failing call
/// set it.
Result<std::string> read_file(const std::string& path);

}  // namespace vma::os
