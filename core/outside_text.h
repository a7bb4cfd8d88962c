#pragma once
/// \file
/// Strings vmakit did not write: a mapped file's path, a thread's or
/// symbol's name, a core's NT_FILE names, a saved report's kernel name. The
/// inspected process or file controls them, so they may hold terminal
/// escapes (ESC[2J, OSC title sequences), other control bytes, bytes that
/// are not UTF-8, or megabytes. Every front end prints them through
/// safe_text(); JSON is the exception and keeps the exact bytes as JSON
/// escapes (render.h, to_text()).

#include <cstddef>
#include <string>
#include <string_view>

namespace vma {

/// Where the text goes.
enum class TextSink {
  /// A terminal: C0 controls (tab and newline included), DEL, C1 controls
  /// (U+0080-U+009F) and bytes that are not UTF-8 become `\xNN`, one escape
  /// per byte, so a user still sees which bytes they were.
  terminal,
  /// An XML 1.0 (SVG, JUnit) attribute or text: `& < > "` escaped;
  /// controls as for a terminal (XML 1.0 forbids most of them, even as
  /// character references); bytes that are not UTF-8 and U+FFFE/U+FFFF (not
  /// XML characters) become U+FFFD, as JSON's policy.
  xml,
  /// As `xml`, keeping newlines and carriage returns (multi-line JUnit text).
  xml_multiline,
};

/// Names longer than this are cut (PATH_MAX is 4096).
inline constexpr std::size_t kMaxOutsideText = 4096;

/// `s` made safe for `sink`: escaped as above and bounded to about
/// `max_bytes` bytes of input, followed by "...[+N bytes]" when N bytes were
/// cut (never inside a character or an escape). Pure; the one place that
/// decides what an outside string may carry to a reader.
std::string safe_text(std::string_view s, TextSink sink = TextSink::terminal,
                      std::size_t max_bytes = kMaxOutsideText);

/// safe_text(s) appended to `out`, without an allocation when `s` is short
/// printable ASCII (the common case: map text at 500,000 rows).
void append_safe_text(std::string& out, std::string_view s, std::size_t max_bytes = kMaxOutsideText);

}  // namespace vma
