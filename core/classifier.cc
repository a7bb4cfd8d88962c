#include "classifier.h"

#include <elf.h>

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>

#include "huge_pages.h"

namespace vma {

namespace {

/// glibc's HEAP_MAX_SIZE on 64-bit targets (2 * DEFAULT_MMAP_THRESHOLD_MAX,
/// malloc/arena.c): each non-main arena heap is a 64 MiB-aligned, 64 MiB
/// reservation, mapped PROT_NONE and made rw as it grows.
constexpr Addr kArenaHeapSize = 64ull << 20;

Addr page_down(Addr a, Addr ps) { return a & ~(ps - 1); }
Addr page_up(Addr a, Addr ps) { return (a + ps - 1) & ~(ps - 1); }

bool contiguous(const Mapping& lo, const Mapping& hi) { return lo.range.end == hi.range.start; }
bool private_anon(const Mapping& m) { return m.is_private() && m.is_anonymous(); }

/// `note`, followed by the `[anon:NAME]` an anonymous VMA was given, if any.
std::string with_name(const std::string& name_note, std::string note) {
  if (name_note.empty()) return note;
  return note.empty() ? name_note : note + "; " + name_note;
}

class Classifier {
 public:
  Classifier(const Snapshot& s, ElfCache& cache) : s_(s), m_(s.mappings), cache_(cache), ps_(s.target.page_size) {
    out_.reserve(m_.size());
    advise_huge_pages(out_.data(), out_.capacity() * sizeof(Region));
    populate_for_writing(out_.data(), out_.capacity() * sizeof(Region));
    out_.resize(m_.size());
    some_sp_unknown_ = !s.threads_known;
    for (const Mapping& m : m_) {
      has_named_stack_ |= m.name == "[stack]";
      if (m.is_file() && has(m.perms, Perms::exec) && m.is_private()) exec_images_.insert(m.name);
    }
    for (const ThreadInfo& t : s.threads) some_sp_unknown_ |= !t.sp.has_value();
  }

  std::vector<Region> run() {
    std::vector<bool> done(m_.size(), false);
    // Pass 1: names, shared memory and files. Pass 2: accessible anonymous
    // memory (bss needs the file VMA below it). Pass 3: PROT_NONE anonymous
    // memory (a guard needs the stack above it, an arena tail the heap below).
    for (std::size_t i = 0; i < m_.size(); ++i) done[i] = by_name_or_file(i);
    for (std::size_t i = 0; i < m_.size(); ++i)
      if (!done[i] && !is_prot_none(m_[i].perms)) anon_accessible(i), done[i] = true;
    for (std::size_t i = 0; i < m_.size(); ++i)
      if (!done[i]) anon_prot_none(i);
    return std::move(out_);
  }

  /// The regions take the mappings over (moved, not copied); a VMA with a
  /// tail (split()) becomes its head region followed by the tail's.
  void hand_over(Snapshot& s, std::vector<Region>& regions) {
    for (std::size_t i = 0; i < regions.size(); ++i) regions[i].mapping = std::move(s.mappings[i]);
    s.mappings.clear();
    s.mappings.shrink_to_fit();
    if (tails_.empty()) return;
    std::vector<Region> out;
    out.reserve(regions.size() + tails_.size());
    std::size_t t = 0;
    for (std::size_t i = 0; i < regions.size(); ++i) {
      Region& head = regions[i];
      if (t < tails_.size() && tails_[t].index == i) {
        Tail& tail = tails_[t++];
        AddressRange whole = head.mapping.range;
        tail.region.mapping = head.mapping;
        tail.region.mapping.range = {tail.at, whole.end};
        tail.region.vma = whole;
        head.mapping.range.end = tail.at;
        head.vma = whole;
        out.push_back(std::move(head));
        out.push_back(std::move(tail.region));
      } else {
        out.push_back(std::move(head));
      }
    }
    regions = std::move(out);
  }

 private:
  void set(std::size_t i, RegionKind k, std::string note = {}) {
    out_[i].kind = k;
    out_[i].note = std::move(note);
  }

  bool by_name_or_file(std::size_t i) {
    const Mapping& m = m_[i];
    const std::string& n = m.name;
    if (m.is_pseudo()) {
      if (n == "[heap]") {
        // Unrandomized brk starts at the executable's page-rounded .bss end,
        // and do_brk_flags() extends the .bss VMA: one VMA, two things.
        if (auto bss = bss_below(i); bss && bss->end > m.range.start) {
          if (bss->end >= m.range.end) {
            set(i, RegionKind::bss, "of " + bss->image->path + "; the empty brk heap starts at its end");
            out_[i].image = bss->image;
            return true;
          }
          set(i, RegionKind::bss, "of " + bss->image->path);
          out_[i].image = bss->image;
          Region heap;
          heap.kind = RegionKind::heap;
          heap.note = "brk heap";
          split(i, bss->end, std::move(heap));
          return true;
        }
        return set(i, RegionKind::heap, "brk heap"), true;
      }
      if (n == "[stack]") {
        set(i, RegionKind::stack);
        out_[i].tid = s_.main_tid;
        return true;
      }
      if (n.starts_with("[stack:")) {  // kernels before 4.5 named thread stacks
        set(i, RegionKind::thread_stack);
        out_[i].tid = std::atoi(n.c_str() + 7);
        return true;
      }
      if (n == "[vdso]") return set(i, RegionKind::vdso), true;
      if (n == "[vvar]" || n == "[vvar_vclock]") return set(i, RegionKind::vvar), true;
      if (n == "[vsyscall]") return set(i, RegionKind::vsyscall, vsyscall_mode_note(m)), true;
      if (n.starts_with("[anon_shmem:")) return set(i, RegionKind::shared, "named shared anonymous memory"), true;
      if (n == "[uprobes]") return set(i, RegionKind::anon, "uprobes execute-out-of-line area"), true;
      if (!n.starts_with("[anon:")) return set(i, RegionKind::anon, fmt::format("kernel-named area {}", n)), true;
      return false;  // [anon:NAME] is anonymous memory with a name: the anon rules apply
    }
    if (m.is_shared()) {
      std::string note;
      if (n.starts_with("/memfd:")) note = "memfd";
      else if (n.starts_with("/SYSV")) note = "System V shared memory";
      else if (n.starts_with("/dev/zero")) note = "shared anonymous memory";
      else if (n.starts_with("/dev/shm/")) note = "POSIX shared memory";
      else if (m.is_file()) note = "shared file mapping";
      set(i, RegionKind::shared, note);
      return true;
    }
    if (m.is_file()) {
      classify_file(i);
      return true;
    }
    return false;
  }

  static std::string vsyscall_mode_note(const Mapping& m) {
    if (has(m.perms, Perms::read)) return "vsyscall=emulate: readable, calls emulated";
    if (has(m.perms, Perms::exec)) return "vsyscall=xonly: calls emulated, reads fault";
    return {};
  }

  std::shared_ptr<const ElfImage> elf_for(const Mapping& m) {
    auto path = s_.files->host_path(m);
    if (!path) return nullptr;
    auto elf = cache_.get(*path);
    if (!elf || elf->loads().empty() || (elf->type() != ET_EXEC && elf->type() != ET_DYN)) return nullptr;
    return elf;
  }

  void classify_file(std::size_t i) {
    const Mapping& m = m_[i];
    auto elf = elf_for(m);
    if (elf) {
      if (is_prot_none(m.perms)) {
        set(i, RegionKind::file, "PROT_NONE hole between the segments of an ELF image");
        return;
      }
      if (classify_image_segment(i, elf)) return;
      set(i, RegionKind::file, "ELF file mapped outside its segments");
      return;
    }
    if (m.is_file() && looks_like_image(i)) {
      const char* why = "by permissions: the ELF file is not readable here";
      out_[i].image = std::make_shared<const ImageRef>(ImageRef{std::string(m.file_path()), nullptr, 0, false});
      if (has(m.perms, Perms::exec)) return set(i, RegionKind::text, why);
      if (has(m.perms, Perms::write)) return set(i, RegionKind::data, why);
      if (is_prot_none(m.perms)) {
        out_[i].image.reset();
        return set(i, RegionKind::file, "PROT_NONE hole between the segments of an ELF image");
      }
      if (i + 1 < m_.size() && contiguous(m, m_[i + 1]) && m_[i + 1].name == m.name &&
          has(m_[i + 1].perms, Perms::write))
        return set(i, RegionKind::relro, why);
      return set(i, RegionKind::rodata, why);
    }
    set(i, RegionKind::file);
  }

  /// Without the ELF file: an image maps one file several times, one of them
  /// executable; a plain mmap of a file does not. Anywhere in the map, not
  /// only nearby: with 64 KiB segment alignment (aarch64 binaries) the
  /// holes between an image's segments fill with other mappings, and arm64
  /// kernels place [vvar]/[vdso] between ld.so's text and its data.
  bool looks_like_image(std::size_t i) const { return exec_images_.contains(m_[i].name); }

  /// The segments a VMA can map: by file offset (page-rounded) and size,
  /// each with the load bias it implies.
  struct Candidate {
    const ElfSegment* seg;
    Addr bias;
  };
  std::vector<Candidate> candidates(const Mapping& m, const ElfImage& elf) const {
    std::vector<Candidate> out;
    for (const ElfSegment& seg : elf.loads()) {
      Addr lo = page_down(seg.offset, ps_);
      Addr hi = std::max(seg.offset + seg.filesz, lo + ps_);
      if (m.offset < lo || m.offset >= hi) continue;
      Addr bias = m.range.start - (page_down(seg.vaddr, ps_) + (m.offset - lo));
      if (m.range.end > bias + page_up(seg.vaddr + seg.memsz, ps_)) continue;
      out.push_back({&seg, bias});
    }
    return out;
  }

  /// The image's load bias, from a VMA of the same file nearby whose segment
  /// is unambiguous: the executable one, the writable one, or offset 0. A
  /// read-only VMA alone is not enough: the RELRO VMA and the rodata VMA
  /// before it often map the same file page.
  std::optional<Addr> image_bias(std::size_t i, const ElfImage& elf) const {
    const Mapping& m = m_[i];
    std::size_t lo = i >= 4 ? i - 4 : 0, hi = std::min(m_.size(), i + 5);
    for (std::size_t j = lo; j < hi; ++j) {
      const Mapping& n = m_[j];
      if (n.name != m.name || n.inode != m.inode || n.dev_major != m.dev_major || n.dev_minor != m.dev_minor ||
          is_prot_none(n.perms) || n.is_shared())
        continue;
      bool x = has(n.perms, Perms::exec), w = has(n.perms, Perms::write);
      std::optional<Addr> found;
      int count = 0;
      for (const Candidate& c : candidates(n, elf)) {
        bool fits = x ? c.seg->x : w ? c.seg->w : (n.offset == 0 && c.seg->offset == 0 && !c.seg->w && !c.seg->x);
        if (!fits) continue;
        if (!found || *found != c.bias) ++count;
        found = c.bias;
      }
      if (count == 1) return found;
    }
    return std::nullopt;
  }

  /// Matches the VMA to the PT_LOAD it maps and names it by the segment's
  /// flags and PT_GNU_RELRO.
  bool classify_image_segment(std::size_t i, const std::shared_ptr<const ElfImage>& elf) {
    const Mapping& m = m_[i];
    bool w = has(m.perms, Perms::write), x = has(m.perms, Perms::exec);
    auto cands = candidates(m, *elf);
    if (auto bias = image_bias(i, *elf)) {
      std::erase_if(cands, [&](const Candidate& c) { return c.bias != *bias; });
    }
    // With RELRO and rodata both possible, RELRO needs the range check below;
    // try it first, since a RELRO VMA never matches an r-- segment's bias.
    std::stable_sort(cands.begin(), cands.end(),
                     [](const Candidate& a, const Candidate& b) { return a.seg->w > b.seg->w; });
    for (const Candidate& c : cands) {
      const ElfSegment& seg = *c.seg;
      RegionKind kind;
      if (x) {
        if (!seg.x) continue;
        kind = RegionKind::text;
      } else if (w) {
        if (!seg.w) continue;
        kind = RegionKind::data;
      } else if (seg.w && elf->relro()) {
        const ElfSegment& rr = *elf->relro();
        Addr rs = c.bias + page_down(rr.vaddr, ps_), re = c.bias + page_up(rr.vaddr + rr.memsz, ps_);
        if (m.range.start < rs || m.range.end > re) continue;
        kind = RegionKind::relro;
      } else if (!seg.w && !seg.x) {
        kind = RegionKind::rodata;
      } else {
        continue;
      }
      set(i, kind);
      out_[i].image = std::make_shared<const ImageRef>(ImageRef{std::string(m.file_path()), elf, c.bias, true});
      return true;
    }
    return false;
  }

  /// The .bss of the image whose data VMA lies flush below mapping i, when
  /// mapping i starts inside it: the image and the page-rounded end of its
  /// p_memsz (without the ELF file: the end of mapping i, by position).
  struct Bss {
    std::shared_ptr<const ImageRef> image;
    Addr end;
  };
  std::optional<Bss> bss_below(std::size_t i) const {
    const Mapping& m = m_[i];
    if (i == 0 || !contiguous(m_[i - 1], m) || out_[i - 1].kind != RegionKind::data || !out_[i - 1].image)
      return std::nullopt;
    const std::shared_ptr<const ImageRef>& ref = out_[i - 1].image;
    if (!ref->elf) return Bss{ref, m.range.end};
    for (const ElfSegment& seg : ref->elf->loads()) {
      if (!seg.w || seg.memsz <= seg.filesz) continue;
      Addr mem_end = ref->load_bias + seg.vaddr + seg.memsz;
      Addr file_end = ref->load_bias + seg.vaddr + seg.filesz;
      if (file_end <= m.range.start && m.range.start < mem_end) return Bss{ref, page_up(mem_end, ps_)};
    }
    return std::nullopt;
  }

  /// If a thread's SP lies in `r` (part of mapping i, or all of it), makes
  /// `out` that thread's stack and returns true.
  bool on_a_stack(Region& out, AddressRange r, const std::string& name_note) const {
    for (const ThreadInfo& t : s_.threads) {
      if (!t.sp || !r.contains(*t.sp)) continue;
      out.tid = t.tid;
      bool main = s_.main_tid && t.tid == *s_.main_tid;
      // A source without names (a debugger's list for a core) has no
      // [stack]: there the main thread's SP marks the main stack. Where
      // [stack] exists, an SP elsewhere is on an alternate stack.
      if (main && s_.complete && !has_named_stack_) {
        out.kind = RegionKind::stack;
        out.note = with_name(name_note, "the main thread's SP is here (no [stack] name in this source)");
      } else {
        out.kind = RegionKind::thread_stack;
        out.note = with_name(name_note, main ? "the main thread's SP is here (an alternate stack)" : "");
      }
      return true;
    }
    return false;
  }
  bool on_a_stack(std::size_t i, AddressRange r, const std::string& name_note) {
    return on_a_stack(out_[i], r, name_note);
  }

  /// Mapping i is two things: out_[i] describes [start, at), `tail` the rest.
  void split(std::size_t i, Addr at, Region tail) {
    std::string merged = fmt::format("one kernel VMA with the {} after it", to_string(tail.kind));
    out_[i].note = out_[i].note.empty() ? merged : out_[i].note + "; " + merged;
    std::string before = fmt::format("one kernel VMA with the {} before it", to_string(out_[i].kind));
    tail.note = tail.note.empty() ? before : tail.note + "; " + before;
    tails_.push_back({i, at, std::move(tail)});
  }

  void anon_accessible(std::size_t i) {
    const Mapping& m = m_[i];
    std::string name_note = m.name.starts_with("[anon:") ? m.name : std::string{};
    // glibc non-main arena heap: 64 MiB aligned, rw part plus PROT_NONE tail.
    if (m.is_private() && m.range.start % kArenaHeapSize == 0) {
      bool whole = m.range.size() == kArenaHeapSize;
      bool with_tail = i + 1 < m_.size() && contiguous(m, m_[i + 1]) && private_anon(m_[i + 1]) &&
                       is_prot_none(m_[i + 1].perms) && m_[i + 1].range.end - m.range.start == kArenaHeapSize;
      if (whole || with_tail) return set(i, RegionKind::heap, with_name(name_note, "glibc arena heap"));
    }
    if (auto bss = bss_below(i)) {
      // The VMA starts in the .bss of the image below. Past the .bss end
      // (p_memsz, page-rounded) it holds something else the kernel merged
      // in: that tail is classified on its own.
      Addr cut = bss->end;
      bool whole = cut >= m.range.end;
      AddressRange head{m.range.start, whole ? m.range.end : cut};
      if (!on_a_stack(i, head, name_note)) {
        set(i, RegionKind::bss, bss->image->elf ? "of " + bss->image->path
                                                : "by position: anonymous memory right after an image's data");
        out_[i].image = bss->image;
      }
      if (!whole) {
        Region tail;
        tail.kind = RegionKind::anon;
        tail.note = name_note;
        on_a_stack(tail, {cut, m.range.end}, name_note);
        split(i, cut, std::move(tail));
      }
      return;
    }
    if (on_a_stack(i, m.range, name_note)) return;
    // Without every thread's SP (no thread list, or a thread that was
    // running when read), a thread stack is known by its shape: an rw area
    // directly above a small PROT_NONE guard (glibc allocatestack.c).
    if (some_sp_unknown_ && i > 0 && contiguous(m_[i - 1], m) && private_anon(m_[i - 1]) &&
        is_prot_none(m_[i - 1].perms) && m_[i - 1].range.size() <= (1u << 20) && m.range.size() >= (16u << 10) &&
        has(m.perms, Perms::read | Perms::write) && !has(m.perms, Perms::exec))
      return set(i, RegionKind::thread_stack, with_name(name_note, "inferred from its shape (rw above a guard); thread unknown"));
    set(i, RegionKind::anon, name_note);
  }

  void anon_prot_none(std::size_t i) {
    const Mapping& m = m_[i];
    if (i > 0 && contiguous(m_[i - 1], m) && out_[i - 1].kind == RegionKind::heap &&
        m_[i - 1].range.start % kArenaHeapSize == 0 && m.range.end - m_[i - 1].range.start == kArenaHeapSize)
      return set(i, RegionKind::heap, "glibc arena heap: reserved, not yet usable (PROT_NONE)");
    if (i + 1 < m_.size() && contiguous(m, m_[i + 1])) {
      const Region& up = out_[i + 1];
      if (up.kind == RegionKind::thread_stack)
        return set(i, RegionKind::guard,
                   up.tid ? fmt::format("guard below thread {}'s stack", *up.tid) : "guard below a thread stack");
      if (up.kind == RegionKind::stack) return set(i, RegionKind::guard, "guard below the main stack");
    }
    set(i, RegionKind::guard, m.name.starts_with("[anon:") ? "PROT_NONE; " + m.name : "PROT_NONE");
  }

  const Snapshot& s_;
  const std::vector<Mapping>& m_;
  ElfCache& cache_;
  Addr ps_;
  bool some_sp_unknown_ = false;
  bool has_named_stack_ = false;
  /// Names of files mapped private and executable somewhere in the map.
  std::unordered_set<std::string_view> exec_images_;
  std::vector<Region> out_;
  /// The second parts of VMAs that hold two things, by mapping index (in
  /// order: mappings are classified in order and split at most once).
  struct Tail {
    std::size_t index;
    Addr at;
    Region region;
  };
  std::vector<Tail> tails_;
};

}  // namespace

std::vector<Region> classify(Snapshot& s, ElfCache& elf_cache) {
  Classifier c(s, elf_cache);
  std::vector<Region> regions = c.run();
  c.hand_over(s, regions);
  return regions;
}

}  // namespace vma
