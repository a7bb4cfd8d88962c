#pragma once
/// \file
/// What vmakit needs from an ELF file, read with libelf: PT_LOAD segments,
/// PT_GNU_RELRO, section headers and symbols. Used to tell text, rodata,
/// relro, data and bss apart and to name the section and symbol at an address.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "address.h"
#include "result.h"

namespace vma {

struct ElfSegment {
  std::uint64_t vaddr = 0, memsz = 0, offset = 0, filesz = 0, align = 0;
  bool r = false, w = false, x = false;
};

struct ElfSection {
  std::string name;
  std::uint64_t addr = 0, size = 0, offset = 0;
  bool alloc = false, nobits = false;
};

struct ElfSymbol {
  std::string name;
  std::uint64_t value = 0, size = 0;
};

/// A parsed ELF file. Immutable after open().
class ElfImage {
 public:
  /// Opens and parses `path`. Fails (with the path and why) when the file
  /// cannot be read or is not an ELF file.
  static Result<std::shared_ptr<const ElfImage>> open(const std::string& path);

  const std::string& path() const { return path_; }
  std::uint16_t machine() const { return machine_; }
  std::uint16_t type() const { return type_; }  ///< ET_EXEC, ET_DYN, ET_CORE...
  const std::vector<ElfSegment>& loads() const { return loads_; }
  const std::optional<ElfSegment>& relro() const { return relro_; }
  const std::vector<ElfSection>& sections() const { return sections_; }

  /// The PT_LOAD whose file range (page-rounded down at the start) holds
  /// `file_offset`; when several do (RELRO and data share a page), the one
  /// that also matches `writable`.
  const ElfSegment* load_for_offset(std::uint64_t file_offset, bool writable,
                                    std::uint64_t page_size) const;
  /// The allocated section that contains link-time address `vaddr`.
  const ElfSection* section_at(std::uint64_t vaddr) const;
  /// The nearest symbol at or below `vaddr` (.symtab, else .dynsym); nullptr
  /// when none, or when `vaddr` lies past a sized symbol's end in another
  /// section or more than 64 KiB beyond it.
  const ElfSymbol* symbol_at(std::uint64_t vaddr) const;

 private:
  std::string path_;
  std::uint16_t machine_ = 0, type_ = 0;
  std::vector<ElfSegment> loads_;
  std::optional<ElfSegment> relro_;
  std::vector<ElfSection> sections_;  // allocated ones, sorted by addr
  std::vector<ElfSymbol> symbols_;    // sorted by value
};

/// Parsed images by host path, shared across lookups. Thread safe.
class ElfCache {
 public:
  /// The image at `host_path`, parsed once; nullptr when unreadable or not ELF.
  std::shared_ptr<const ElfImage> get(const std::string& host_path);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const ElfImage>> images_;
};

}  // namespace vma
