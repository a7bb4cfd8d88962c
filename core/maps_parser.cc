#include "maps_parser.h"

#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "huge_pages.h"

namespace vma {

namespace {

/// Field numbers, as used in messages: 1-based columns of a maps line.
enum Field { kRange = 1, kPerms, kOffset, kDev, kInode, kPath };

Error field_error(Field f, std::string msg) { return Error{fmt::format("{} (field {})", msg, static_cast<int>(f))}; }

/// Parses a whole token as an unsigned number. Empty, non-digit and
/// overflowing tokens fail; `what` names the field in the message.
Result<std::uint64_t> parse_number(std::string_view tok, int base, Field f, std::string_view what) {
  std::uint64_t v = 0;
  if (tok.empty()) return field_error(f, fmt::format("missing {}", what));
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v, base);
  if (ec == std::errc::result_out_of_range)
    return field_error(f, fmt::format("{} \"{}\" overflows 64 bits", what, tok));
  if (ec != std::errc() || p != tok.data() + tok.size())
    return field_error(f, fmt::format("bad {} \"{}\"", what, tok));
  return v;
}

/// Splits off the token before the next space; `rest` starts after that space.
std::string_view next_token(std::string_view& rest) {
  auto sp = rest.find(' ');
  std::string_view tok = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
  return tok;
}

/// The kernel escapes only '\n' in names, as "\012" (seq_file_path(m, file, "\n")).
std::string decode_name(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && s.substr(i, 4) == "\\012") {
      out.push_back('\n');
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// smaps property lines ("Size:  4 kB", "VmFlags: rd") start with a word
/// that ends in ':'; maps lines start with "start-end".
bool is_property_line(std::string_view line) {
  // One memchr for the blank, a tab looked for only inside the first word:
  // find_first_of(" \t") was a fifth of the parse.
  std::string_view first = line.substr(0, line.find(' '));
  if (auto tab = first.find('\t'); tab != std::string_view::npos) first = first.substr(0, tab);
  return !first.empty() && first.back() == ':';
}

}  // namespace

Result<Mapping> parse_maps_line(std::string_view line) {
  Mapping m;
  std::string_view rest = line;

  std::string_view range = next_token(rest);
  auto dash = range.find('-');
  if (dash == std::string_view::npos) return field_error(kRange, "missing dash between address range");
  auto start = parse_number(range.substr(0, dash), 16, kRange, "start address");
  if (!start) return start.error();
  auto end = parse_number(range.substr(dash + 1), 16, kRange, "end address");
  if (!end) return end.error();
  if (*start > *end)
    return field_error(kRange, fmt::format("start address {:#x} is above end address {:#x}", *start, *end));
  m.range = {*start, *end};

  std::string_view perms_tok = next_token(rest);
  if (perms_tok.empty()) return field_error(kPerms, "missing permissions");
  auto perms = parse_perms(perms_tok);
  if (!perms) return field_error(kPerms, fmt::format("bad permissions \"{}\" (expected [r-][w-][x-][ps])", perms_tok));
  m.perms = *perms;

  auto offset = parse_number(next_token(rest), 16, kOffset, "offset");
  if (!offset) return offset.error();
  m.offset = *offset;

  std::string_view dev = next_token(rest);
  auto colon = dev.find(':');
  if (dev.empty()) return field_error(kDev, "missing device");
  if (colon == std::string_view::npos)
    return field_error(kDev, fmt::format("bad device \"{}\" (expected hex major:minor)", dev));
  auto major = parse_number(dev.substr(0, colon), 16, kDev, "device major");
  if (!major) return major.error();
  auto minor = parse_number(dev.substr(colon + 1), 16, kDev, "device minor");
  if (!minor) return minor.error();
  if (*major > 0xffffffffu || *minor > 0xffffffffu)
    return field_error(kDev, fmt::format("bad device \"{}\": number too large", dev));
  m.dev_major = static_cast<std::uint32_t>(*major);
  m.dev_minor = static_cast<std::uint32_t>(*minor);

  auto inode = parse_number(next_token(rest), 10, kInode, "inode");
  if (!inode) return inode.error();
  m.inode = *inode;

  // The kernel pads with blanks to a column before the name.
  auto first = rest.find_first_not_of(' ');
  if (first != std::string_view::npos) m.name = decode_name(rest.substr(first));
  return m;
}

MapsParser::MapsParser(std::string_view source, std::size_t expected_mappings) : source_(source) {
  if (expected_mappings) {
    out_.reserve(expected_mappings);
    advise_huge_pages(out_.data(), out_.capacity() * sizeof(Mapping));
  }
}

void MapsParser::populate_ahead() {
  // 1 MiB of mappings at a time: one madvise instead of 256 page faults,
  // and never more than 1 MiB beyond what the map needs.
  const std::size_t n = std::min(out_.capacity() - populated_, (std::size_t{1} << 20) / sizeof(Mapping));
  populate_for_writing(out_.data() + populated_, n * sizeof(Mapping));
  populated_ += n;
}

Error MapsParser::at(std::string msg) const {
  return Error{fmt::format("{}:{}: malformed maps entry: {}", source_, line_no_, msg)};
}

Result<void> MapsParser::feed(std::string_view text) {
  if (failed_) return Error{"parse already failed"};
  auto fail = [&](std::string msg) {
    failed_ = true;
    return at(std::move(msg));
  };
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    // Name the line holding the first NUL.
    std::size_t nul = text.find('\0');
    ++line_no_;
    for (std::size_t i = 0; i < nul; ++i)
      if (text[i] == '\n') ++line_no_;
    return fail("NUL byte in line");
  }
  while (!text.empty()) {
    ++line_no_;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty()) return fail("empty line");
    if (is_property_line(line)) {
      if (out_.empty()) return fail("smaps property line before any mapping");
      if (line.starts_with("VmFlags:")) {
        std::string_view flags = line.substr(8);
        auto b = flags.find_first_not_of(' ');
        auto e = flags.find_last_not_of(' ');
        out_.back().vm_flags = b == std::string_view::npos ? std::string{} : std::string(flags.substr(b, e - b + 1));
      }
      continue;
    }
    auto m = parse_maps_line(line);
    if (!m) return fail(m.error().message);
    if (!out_.empty() && m->range.start < out_.back().range.end)
      return fail(fmt::format("range {:#x}-{:#x} overlaps or precedes the previous mapping (ends at {:#x}) (field 1)",
                              m->range.start, m->range.end, out_.back().range.end));
    if (out_.size() == populated_ && populated_ < out_.capacity()) populate_ahead();
    out_.push_back(std::move(*m));
  }
  return {};
}

Result<std::vector<Mapping>> parse_maps(std::string_view text, std::string_view source) {
  // Room for every mapping at once, so the vector is written once (a guess
  // that falls short reallocates: 7 MB more touched at 60,000 VMAs). The
  // kernel prints at least 40 bytes a maps line (start and end with at least
  // 8 digits each, the offset with 8) and some 800 an smaps entry; what is
  // reserved beyond that is address space, never touched. (Counting the
  // lines instead cost a tenth of the parse.)
  auto nl = text.find('\n');
  bool smaps = nl != std::string_view::npos && is_property_line(text.substr(nl + 1, 16));
  MapsParser p(source, text.size() / (smaps ? 512 : 40) + 1);
  if (auto r = p.feed(text); !r) return r.error();
  return p.take();
}

}  // namespace vma
