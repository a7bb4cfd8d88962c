#pragma once
/// \file
/// The address space as a picture (`vma map --draw`, `--svg`): one layout
/// computed from an AddressMap, then a terminal renderer and an SVG renderer
/// over it, so every front end only passes numbers and prints.
///
/// The layout covers all 2^64 addresses, high at the top: the kernel half,
/// the non-canonical hole, the user half (each VMA and each gap), the null
/// page. MADV_GUARD_INSTALL pages split their VMA into bands of their own.
/// A band is at least one row high and grows with log2 of its size, so a
/// 4 KiB guard page stays visible beside an 8 MiB stack and a 128 TiB gap.
/// When there are more bands than rows, runs of similar neighbours (same
/// file, same kind, small gaps) are folded into one band; guards, W+X
/// regions, stacks, the vDSO, the kernel half and the marked address are
/// folded last.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "address_map.h"
#include "result.h"

namespace vma {

/// What a front end asks for: the size it has and what to point at.
struct DrawOptions {
  /// The drawing's width and height in character cells; the text never
  /// exceeds either. front ends pass the terminal's size (see
  /// terminal_size()).
  int columns = 80;
  int rows = 40;
  /// An address to point at (`--mark ADDR`, a fault's address).
  std::optional<Addr> mark;
  /// What the pointer says: "mark", "fault", "touch".
  std::string mark_label = "mark";
};

/// One horizontal band of the drawing: one VMA, one gap, one guard page, or
/// a folded run of several.
struct Band {
  Addr first = 0;  ///< lowest address
  Addr last = 0;   ///< highest address (inclusive: the kernel band ends at 2^64-1)
  RegionKind kind = RegionKind::unmapped;  ///< of its dominant member
  std::string perms;       ///< "r-xp"; empty outside VMAs; "mixed" when folded perms differ
  std::string name;        ///< path or [name] of the dominant member
  std::string note;        ///< the region's note, or what a folded band holds
  std::optional<int> tid;  ///< thread stacks
  std::size_t vmas = 0;      ///< VMAs (or pieces of one) in the band
  std::uint64_t mapped = 0;  ///< bytes of those VMAs (less than size() when gaps are folded in)
  std::size_t segments = 1;  ///< VMAs, guard pieces and gaps folded in (1 = not folded)
  bool wx = false;     ///< holds a writable and executable region
  bool guard = false;  ///< holds a guard VMA or a MADV guard page
  int rows = 1;        ///< height in rows
  /// Row of the band the mark points at (0 = its top row), when it holds the mark.
  std::optional<int> mark_row;

  std::uint64_t size() const { return last - first + 1; }
  /// What the band's size column says: the VMAs' bytes, or the gap's size.
  std::uint64_t shown_size() const { return vmas ? mapped : size(); }
  bool folded() const { return segments > 1; }
};

/// The computed picture, top (highest address) first.
struct Layout {
  std::vector<Band> bands;
  /// Kinds shown, in region_kinds() order (the legend).
  std::vector<RegionKind> kinds;
  std::size_t vmas = 0;          ///< VMAs of the map
  std::size_t folded_bands = 0;  ///< bands holding more than one segment
  std::size_t folded_segments = 0;
  std::string source;            ///< "pid 1234", "core file x"
  DrawOptions options;
  int legend_rows = 0;  ///< rows the text renderer gives the legend
};

/// Lays `map` out for `opts`. Never fails: a size too small still gives a
/// layout whose text is clipped to the size.
Layout layout_map(const AddressMap& map, const DrawOptions& opts);

/// The drawing as terminal text: at most `options.rows` lines of at most
/// `options.columns` cells each (ANSI colour sequences take no cells).
std::string draw_text(const Layout& layout, bool color);

/// The drawing as a standalone SVG document: a rectangle per band with a
/// `<title>` (bounds, size, kind, perms, note) shown on hover, visible
/// labels, the legend and the mark. Names that are not UTF-8 get U+FFFD.
std::string draw_svg(const Layout& layout);

struct TerminalSize;

/// What `--draw` prints in every front end: `map` drawn to fit `size`,
/// pointing at `mark` when given.
std::string draw_map_text(const AddressMap& map, const TerminalSize& size, bool color,
                          std::optional<Addr> mark = {}, const std::string& mark_label = "mark");

/// Rows of the SVG drawing: it is not bound by a terminal, so every front
/// end draws its SVG at this height.
constexpr int kSvgRows = 64;

/// What `--svg FILE` does in every front end: draws `map` (with `mark`, if
/// any) as SVG and writes it to `path` (write_output_file: a temporary file
/// renamed when complete). Errors name the path and errno; an error, and
/// nothing written, when `path` is one of `inputs` (the maps or core file
/// the map was read from).
Result<void> save_svg(const AddressMap& map, const std::string& path, std::optional<Addr> mark = {},
                      const std::string& mark_label = "mark", const std::vector<std::string>& inputs = {});

/// `s` as text for an XML (SVG) document: safe_text(s, TextSink::xml), so
/// valid UTF-8 with & < > " escaped, controls as `\xNN`, bytes that are not
/// UTF-8 as U+FFFD, and bounded (names come from the target).
std::string xml_text(std::string_view s);

/// The colours of a kind: ANSI foreground for text listings, ANSI background
/// for the drawing's bars, CSS for SVG. One table for every renderer.
struct KindColours {
  const char* ansi_fg;  ///< "" when the kind is not coloured
  const char* ansi_bg;
  const char* css;
};
KindColours kind_colours(RegionKind k);

/// The size of the terminal behind `fd`, for front ends: TIOCGWINSZ when
/// `fd` is a terminal, else the COLUMNS and LINES environment variables,
/// else 80x40 (each number separately).
struct TerminalSize {
  int columns = 80;
  int rows = 40;
};
TerminalSize terminal_size(int fd);

}  // namespace vma
