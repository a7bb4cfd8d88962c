#include "annotation.h"

#include "debugger_symbols.h"

#include <fmt/format.h>

namespace vma {

namespace {

std::string region_phrase(const Region& r) {
  const Mapping& m = r.mapping;
  std::string path(m.is_file() ? std::string(m.name) : std::string{});
  switch (r.kind) {
    case RegionKind::text: return fmt::format("in the text (code) of {}", path);
    case RegionKind::rodata: return fmt::format("in the read-only data of {}", path);
    case RegionKind::relro: return fmt::format("in the RELRO data of {}, read-only after relocation", path);
    case RegionKind::data: return fmt::format("in the writable data of {}", path);
    case RegionKind::bss: return fmt::format("in the .bss of {}", r.image ? r.image->path : path);
    case RegionKind::heap:
      if (is_prot_none(m.perms)) return "in the reserved (PROT_NONE) tail of a glibc arena heap";
      return m.name == "[heap]" ? "in the brk heap" : "in a glibc arena heap";
    case RegionKind::stack:
      return r.tid ? fmt::format("on the main thread's stack (thread {})", *r.tid) : "on the main thread's stack";
    case RegionKind::thread_stack:
      return r.tid ? fmt::format("on the stack of thread {}", *r.tid) : "on a thread's stack (thread unknown)";
    case RegionKind::guard: return r.note.empty() ? "in a guard region" : fmt::format("in a guard region: {}", r.note);
    case RegionKind::vdso: return "in the vDSO";
    case RegionKind::vvar: return "in the vDSO's data (vvar)";
    case RegionKind::vsyscall: return "in the legacy vsyscall page";
    case RegionKind::anon: return "in private anonymous memory";
    case RegionKind::file: return fmt::format("in a private mapping of {}", path);
    case RegionKind::shared:
      return fmt::format("in shared memory{}{}", r.note.empty() ? "" : " (" + r.note + ")",
                         m.name.empty() ? "" : " " + m.name);
    default: return std::string(to_string(r.kind));
  }
}

/// Kind, summary and neighbours of `x`, which no region holds, on target `t`.
void describe_outside(const AddressMap& map, const Target& t, Addr x, Annotation& out) {
  OutsideInfo o = classify_outside(t, x);
  switch (o.where) {
    case OutsideInfo::Where::null_page:
      out.kind = RegionKind::null_page;
      out.summary = fmt::format("in the null page region below vm.mmap_min_addr ({:#x}): a NULL pointer{}",
                                t.mmap_min_addr,
                                x == 0 ? "" : fmt::format(" plus {:#x}", x));
      break;
    case OutsideInfo::Where::non_canonical:
      out.kind = RegionKind::non_canonical;
      // x86 raises #GP (the kernel reports SI_KERNEL, si_addr 0); arm64 has
      // no such check: a level-0 translation fault reports the address
      // (arch/arm64/mm/fault.c do_translation_fault -> do_bad_area).
      out.summary = fmt::format("non-canonical: above the {}-bit user half and below the kernel half; {}", t.va_bits,
                                t.arch == Arch::aarch64
                                    ? "no page table maps it: any access is a translation fault (SEGV_MAPERR)"
                                    : "any access is a general protection fault");
      break;
    case OutsideInfo::Where::kernel:
      out.kind = RegionKind::kernel;
      out.sub_area = o.sub_area;
      out.summary = o.sub_area.empty() ? "in the kernel half"
                                       : fmt::format("in the kernel half: {}{}", o.sub_area,
                                                     o.note.empty() ? "" : " - " + o.note);
      break;
    case OutsideInfo::Where::user_gap: {
      out.kind = RegionKind::unmapped;
      Neighbour b = map.below(x), ab = map.above(x);
      if (b.region) {
        out.below = *b.region;
        out.below_distance = b.distance;
      }
      if (ab.region) {
        out.above = *ab.region;
        out.above_distance = ab.distance;
      }
      std::string lo = b.region ? std::string(to_string(b.region->kind)) : "the bottom of the address space";
      std::string hi = ab.region ? std::string(to_string(ab.region->kind)) : "the top of the user half";
      if (b.region && ab.region)
        out.summary = fmt::format("in an unmapped gap of {} between {} and {}",
                                  human_size(ab.region->mapping.range.start - b.region->mapping.range.end), lo, hi);
      else
        out.summary = fmt::format("in unmapped memory between {} and {}", lo, hi);
      if (!map.snapshot().complete && !b.region && !ab.region) out.summary += " (neighbours not read)";
      break;
    }
  }
}

}  // namespace

Annotation annotate(const AddressMap& map, Addr a) {
  Annotation out;
  out.address = a;
  Untagged u = strip_tag(map.target(), a);
  out.untagged = u.address;
  out.tag = u.tag;
  Addr x = u.address;

  if (const Region* r = map.find(x)) {
    out.mapped = true;
    out.kind = r->kind;
    out.region = *r;
    out.offset_in_region = x - r->mapping.range.start;
    if (r->mapping.is_file() && r->mapping.file_info_known) out.file_offset = r->mapping.offset + *out.offset_in_region;
    if (r->tid) out.thread = r->tid;
    if (r->image && r->image->elf && r->image->bias_known) {
      Addr link = x - r->image->load_bias;
      if (const ElfSection* sec = r->image->elf->section_at(link)) out.section = sec->name;
      if (const ElfSymbol* sym = r->image->elf->symbol_at(link)) {
        out.symbol = sym->name;
        out.symbol_offset = link - sym->value;
      }
    }
    out.summary = region_phrase(*r);
    if (r->kind == RegionKind::data && r->image && r->image->elf && r->image->bias_known) {
      // The head of .bss shares the last file page of the data segment: past
      // p_filesz the kernel maps zeros, so by address this is .bss.
      Addr link = x - r->image->load_bias;
      for (const ElfSegment& seg : r->image->elf->loads())
        if (seg.w && link >= seg.vaddr + seg.filesz && link < seg.vaddr + seg.memsz) {
          out.kind = RegionKind::bss;
          out.summary = fmt::format("in the .bss of {}, in the zero-filled tail of its data VMA", r->image->path);
        }
    }
    if (auto g = map.guard_page(x)) {
      out.kind = RegionKind::guard;
      out.summary = fmt::format("in a MADV_GUARD_INSTALL guard page inside {} ({})", to_string(r->kind),
                                region_phrase(*r));
    }
    if (std::string detail = symbol_detail(out.section, out.symbol, out.symbol_offset); !detail.empty())
      out.summary += fmt::format(" ({})", detail);
    return out;
  }

  describe_outside(map, map.target(), x, out);
  if (auto other = map.target().other_reading()) {
    Annotation alt;
    describe_outside(map, *other, x, alt);
    if (alt.kind != out.kind || alt.sub_area != out.sub_area) {
      out.readings = {{map.target().name(), out.kind, out.summary}, {other->name(), alt.kind, alt.summary}};
      out.summary = fmt::format(
          "{} ({}); with {} bits of user address space ({}): {} {}. The source does not record the paging mode "
          "(give --arch)",
          out.summary, map.target().name(), other->va_bits, other->name(), to_string(alt.kind), alt.summary);
      if (alt.kind == RegionKind::unmapped) {  // the neighbours belong to that reading
        out.below = alt.below;
        out.below_distance = alt.below_distance;
        out.above = alt.above;
        out.above_distance = alt.above_distance;
      }
    }
  }
  return out;
}

Result<Annotation> whereis(RegionSource& source, Addr a, ElfCache& elf_cache) {
  auto snap = source.around(a);
  if (!snap) return snap.error();
  Untagged u = strip_tag(snap->target, a);
  if (u.tag) {
    snap = source.around(u.address);
    if (!snap) return snap.error();
  }
  AddressMap map = AddressMap::build(std::move(snap).value(), elf_cache);
  Annotation out = annotate(map, a);
  if (out.mapped) out.page = source.page_state(out.untagged);
  return out;
}

}  // namespace vma
