#pragma once
/// \file
/// errno values by their symbolic names ("ENOENT"), which probes print and
/// expectations name.

#include <optional>
#include <string>
#include <string_view>

namespace vma::os {

/// "ENOENT" for ENOENT; the number in decimal when glibc has no name for it.
std::string errno_name(int e);

/// ENOENT for "ENOENT"; nullopt for a name glibc does not know.
std::optional<int> errno_from_name(std::string_view name);

/// "ENOENT (No such file or directory)".
std::string errno_text(int e);

}  // namespace vma::os
