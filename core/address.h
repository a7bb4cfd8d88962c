#pragma once
/// \file
/// Target addresses and half-open address ranges (rr's MemoryRange).

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vma {

/// A virtual address in the *target* process (never a host pointer).
using Addr = std::uint64_t;

/// `[start, end)`, half open, as /proc/PID/maps prints it.
struct AddressRange {
  Addr start = 0;
  Addr end = 0;

  constexpr bool contains(Addr a) const { return start <= a && a < end; }
  constexpr Addr size() const { return end - start; }
  constexpr bool empty() const { return start >= end; }
  constexpr bool overlaps(const AddressRange& o) const {
    return start < o.end && o.start < end;
  }
  auto operator<=>(const AddressRange&) const = default;
};

/// `0x` followed by lower-case hex, no padding: the JSON form of an address.
std::string hex(Addr a);

/// "4 KiB", "8 MiB", "1.5 GiB": a size for people.
std::string human_size(std::uint64_t bytes);

/// Parses an address as a user types it: `0x...` hex or decimal, with
/// optional `_` or `'` digit separators. Errors name the text and say why.
struct AddressParseError {
  std::string message;
};
std::optional<Addr> parse_address(std::string_view text, std::string* why = nullptr);

}  // namespace vma
