#include "outside_text.h"

#include <fmt/format.h>

namespace vma {
namespace {

/// Length of the valid UTF-8 sequence at p[i] (1-4), or 0 when it is not one
/// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_length(const unsigned char* p, std::size_t i, std::size_t n, unsigned& cp) {
  const unsigned char c = p[i];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  const std::size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
  if (len == 0 || i + len > n) return 0;
  cp = len == 2 ? c & 0x1fu : len == 3 ? c & 0x0fu : c & 0x07u;
  for (std::size_t k = 1; k < len; ++k) {
    if ((p[i + k] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i + k] & 0x3fu);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

void escape_bytes(std::string& out, const unsigned char* p, std::size_t len) {
  for (std::size_t k = 0; k < len; ++k) out += fmt::format("\\x{:02x}", p[k]);
}

bool plain_ascii(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string safe_text(std::string_view s, TextSink sink, std::size_t max_bytes) {
  const bool xml = sink != TextSink::terminal;
  std::string out;
  out.reserve(std::min(s.size(), max_bytes) + 16);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n && i < max_bytes) {
    unsigned cp = 0;
    const std::size_t len = utf8_length(p, i, n, cp);
    if (len == 0) {
      if (xml) out += "\xef\xbf\xbd";
      else escape_bytes(out, p + i, 1);
      ++i;
      continue;
    }
    const bool control = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
    if (control) {
      const bool kept = xml && (cp == '\t' || (sink == TextSink::xml_multiline && (cp == '\n' || cp == '\r')));
      if (kept) out += static_cast<char>(cp);
      else escape_bytes(out, p + i, len);
    } else if (xml && cp == '&') {
      out += "&amp;";
    } else if (xml && cp == '<') {
      out += "&lt;";
    } else if (xml && cp == '>') {
      out += "&gt;";
    } else if (xml && cp == '"') {
      out += "&quot;";
    } else if (xml && (cp == 0xfffe || cp == 0xffff)) {
      out += "\xef\xbf\xbd";
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  if (i < n) out += fmt::format("...[+{} bytes]", n - i);
  return out;
}

void append_safe_text(std::string& out, std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes && plain_ascii(s)) out += s;
  else out += safe_text(s, TextSink::terminal, max_bytes);
}

}  // namespace vma
