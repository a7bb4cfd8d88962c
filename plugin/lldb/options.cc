#include "options.h"

#include <cctype>
#include <optional>

namespace vma::lldb_plugin {

namespace {

bool looks_like_flag(std::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  return arg[1] == '-' || std::isalpha(static_cast<unsigned char>(arg[1]));
}

const FlagSpec* find_flag(std::span<const FlagSpec> spec, std::string_view name) {
  for (const FlagSpec& f : spec)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

std::string describe_flags(std::span<const FlagSpec> spec) {
  std::string out;
  for (const FlagSpec& f : spec) {
    if (!out.empty()) out += ", ";
    out += f.name;
    if (!f.value_name.empty()) {
      out += ' ';
      out += f.value_name;
    }
  }
  return out.empty() ? "none" : out;
}

Result<ParsedArgs> parse_args(std::span<const std::string> argv,
                              std::span<const FlagSpec> spec) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (flags_done || !looks_like_flag(arg)) {
      parsed.operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      inline_value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
    }
    const FlagSpec* f = find_flag(spec, name);
    if (f == nullptr)
      return Error{"unknown option '" + std::string(name) +
                   "'; valid options: " + describe_flags(spec)};
    std::string value;
    if (f->value_name.empty()) {
      if (inline_value)
        return Error{"option '" + std::string(name) + "' takes no value"};
    } else if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      return Error{"option '" + std::string(name) + "' needs a value (" +
                   std::string(name) + " " + std::string(f->value_name) + ")"};
    }
    parsed.flags[std::string(name)] = std::move(value);
  }
  return parsed;
}

}  // namespace vma::lldb_plugin
