#include "commands.h"

#include <exception>
#include <string>
#include <vector>

#include <unistd.h>

#include "draw.h"
#include "options.h"
#include "outside_text.h"
#include "region_kind.h"
#include "render.h"
#include "signals.h"

namespace vma::lldb_plugin {

namespace {

constexpr FlagSpec kWhereisFlags[] = {{"--json", ""}};
constexpr FlagSpec kMapFlags[] = {{"--json", ""}, {"--kind", "K"}, {"--gaps", ""},
                                   {"--draw", ""}, {"--svg", "FILE"}, {"--mark", "EXPR"}};
constexpr FlagSpec kFaultFlags[] = {{"--json", ""}, {"--draw", ""}, {"--svg", "FILE"}};

std::vector<std::string> to_args(char** command) {
  std::vector<std::string> args;
  for (; command != nullptr && *command != nullptr; ++command) args.emplace_back(*command);
  return args;
}

/// Errors quote what was read (a remote map's bad token, a path): made safe
/// for a terminal like every outside string.
bool fail(lldb::SBCommandReturnObject& result, const std::string& message) {
  result.SetError(safe_text(message).c_str());
  return false;
}

/// LLDB's warning channel for a note about the region source, if any.
void warn_note(lldb::SBCommandReturnObject& result, ProcessView& view) {
  if (std::string note = view.take_note(); !note.empty())
    result.AppendWarning(("vma: " + safe_text(note) + "\n").c_str());
}

bool print(lldb::SBCommandReturnObject& result, const std::string& text) {
  result.PutCString(text.c_str(), static_cast<int>(text.size()));
  if (!text.empty() && text.back() != '\n') result.PutCString("\n");
  result.SetStatus(lldb::eReturnStatusSuccessFinishResult);
  return true;
}

bool print_json(lldb::SBCommandReturnObject& result, const nlohmann::json& j) {
  return print(result, vma::to_text(j) + "\n");
}

/// Runs `body`; any exception becomes a command error, never an abort.
template <typename F>
bool guarded(lldb::SBCommandReturnObject& result, const char* command, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(result, std::string(command) + ": internal error: " + e.what());
  } catch (...) {
    return fail(result, std::string(command) + ": internal error");
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// A plain number ("0x7ffd1234", "4096") is taken as is: no expression
/// evaluation, so nothing runs or allocates in the target. Octal-looking
/// literals ("0777") go to LLDB, which reads them as C does.
std::optional<Addr> literal_address(const std::string& expr) {
  const bool hex = expr.size() > 2 && expr[0] == '0' && (expr[1] == 'x' || expr[1] == 'X');
  const bool dec = !expr.empty() && expr.find_first_not_of("0123456789") == std::string::npos &&
                   (expr == "0" || expr[0] != '0');
  if (!hex && !dec) return std::nullopt;
  return parse_address(expr);
}

/// The address an expression denotes in the selected frame: the value of a
/// pointer, integer or register; the address of an array or function.
Result<Addr> evaluate_address(lldb::SBTarget& target, lldb::SBProcess& process,
                              const std::string& expr) {
  if (std::optional<Addr> a = literal_address(expr)) return *a;
  lldb::SBFrame frame = process.GetSelectedThread().GetSelectedFrame();
  lldb::SBValue value =
      frame.IsValid() ? frame.EvaluateExpression(expr.c_str()) : target.EvaluateExpression(expr.c_str());
  lldb::SBError error = value.GetError();
  if (!value.IsValid() || error.Fail()) {
    std::string why = error.GetCString() ? trim(error.GetCString()) : "no value";
    if (why.starts_with("error: ")) why.erase(0, 7);
    return Error{"cannot evaluate '" + expr + "': " + why};
  }
  lldb::SBType type = value.GetType();
  const std::uint32_t type_class = type.GetTypeClass();
  if (type_class & (lldb::eTypeClassArray | lldb::eTypeClassFunction)) {
    const lldb::addr_t a = value.GetLoadAddress();
    if (a == LLDB_INVALID_ADDRESS)
      return Error{"'" + expr + "' has no address in the target"};
    return a;
  }
  lldb::SBError conv;
  const std::uint64_t a = value.GetValueAsUnsigned(conv, 0);
  if (conv.Fail()) {
    const char* tn = type.GetName();
    return Error{"'" + expr + "' is a value of type '" + std::string(tn ? tn : "?") +
                 "', not an address; take its address with '&'"};
  }
  return a;
}

std::optional<std::int64_t> signed_child(lldb::SBValue parent, const char* name) {
  lldb::SBValue v = parent.GetChildMemberWithName(name);
  if (!v.IsValid()) return std::nullopt;
  lldb::SBError e;
  const std::int64_t x = v.GetValueAsSigned(e, 0);
  if (e.Fail()) return std::nullopt;
  return x;
}

/// The faulting instruction at `pc`, as LLDB disassembles it; empty when the
/// pc is not readable (a jump to a bad address).
std::string instruction_at(lldb::SBTarget& target, Addr pc) {
  lldb::SBAddress at(pc, target);
  lldb::SBInstructionList list = target.ReadInstructions(at, 1);
  if (!list.IsValid() || list.GetSize() == 0) return {};
  lldb::SBInstruction insn = list.GetInstructionAtIndex(0);
  const char* mnemonic = insn.GetMnemonic(target);
  const char* operands = insn.GetOperands(target);
  std::string text = mnemonic ? mnemonic : "";
  if (operands && *operands) text += std::string(" ") + operands;
  return text;
}

const char* stop_reason_name(lldb::StopReason r) {
  switch (r) {
    case lldb::eStopReasonNone: return "no reason";
    case lldb::eStopReasonTrace: return "trace";
    case lldb::eStopReasonBreakpoint: return "a breakpoint";
    case lldb::eStopReasonWatchpoint: return "a watchpoint";
    case lldb::eStopReasonSignal: return "a signal";
    case lldb::eStopReasonException: return "an exception";
    case lldb::eStopReasonExec: return "exec";
    case lldb::eStopReasonPlanComplete: return "a completed step";
    case lldb::eStopReasonThreadExiting: return "thread exit";
    case lldb::eStopReasonInstrumentation: return "instrumentation";
    case lldb::eStopReasonFork: return "fork";
    case lldb::eStopReasonVFork: return "vfork";
    case lldb::eStopReasonVForkDone: return "vfork done";
    default: return "an unknown reason";
  }
}

/// `--draw` and `--svg FILE` of `map`, pointing at `mark`: the drawing's
/// text (empty without --draw), or an error message for --svg.
Result<std::string> drawing(const ParsedArgs& args, const AddressMap& map, bool color, std::optional<Addr> mark,
                            const std::string& label) {
  if (auto svg = args.flags.find("--svg"); svg != args.flags.end())
    if (Result<void> saved = save_svg(map, svg->second, mark, label); !saved) return saved.error();
  if (!args.has("--draw")) return std::string();
  return draw_map_text(map, terminal_size(STDOUT_FILENO), color, mark, label);
}

}  // namespace

bool WhereisCommand::DoExecute(lldb::SBDebugger debugger, char** command,
                               lldb::SBCommandReturnObject& result) {
  return guarded(result, "vma whereis", [&] {
    const std::vector<std::string> argv = to_args(command);
    Result<ParsedArgs> args = parse_args(argv, kWhereisFlags);
    if (!args) return fail(result, "vma whereis: " + args.error().message);
    if (args->operands.empty())
      return fail(result, "vma whereis: give at least one expression (vma whereis [--json] <expr>...)");

    // Checks target and process before evaluating anything.
    Result<ProcessView*> view = cache_->current(debugger);
    if (!view) return fail(result, "vma whereis: " + view.error().message);

    std::vector<Addr> addrs;
    for (const std::string& expr : args->operands) {
      lldb::SBTarget target = (*view)->target();
      Result<Addr> a = evaluate_address(target, (*view)->process(), expr);
      if (!a) return fail(result, "vma whereis: " + a.error().message);
      addrs.push_back(*a);
    }
    // An expression may have run code in the target: ask again for this stop.
    view = cache_->current(debugger);
    if (!view) return fail(result, "vma whereis: " + view.error().message);
    warn_note(result, **view);

    std::vector<Annotation> anns;
    for (Addr a : addrs) {
      Result<Annotation> ann = (*view)->annotate_address(a, cache_->elf_cache());
      if (!ann) return fail(result, "vma whereis: " + ann.error().message);
      anns.push_back(std::move(*ann));
    }
    if (args->has("--json")) return print_json(result, whereis_json(anns));
    return print(result, whereis_text(anns, TextStyle{debugger.GetUseColor()}));
  });
}

bool MapCommand::DoExecute(lldb::SBDebugger debugger, char** command,
                           lldb::SBCommandReturnObject& result) {
  return guarded(result, "vma map", [&] {
    const std::vector<std::string> argv = to_args(command);
    Result<ParsedArgs> args = parse_args(argv, kMapFlags);
    if (!args) return fail(result, "vma map: " + args.error().message);
    if (!args->operands.empty())
      return fail(result, "vma map: unexpected argument '" + args->operands.front() +
                              "'; valid options: " + describe_flags(kMapFlags));
    MapFilter filter;
    filter.gaps = args->has("--gaps");
    if (auto it = args->flags.find("--kind"); it != args->flags.end()) {
      filter.kind = parse_region_kind(it->second);
      if (!filter.kind) {
        std::string kinds;
        for (const RegionKindInfo& k : region_kinds()) {
          if (!kinds.empty()) kinds += ", ";
          kinds += k.name;
        }
        return fail(result, "vma map: unknown kind '" + it->second + "'; kinds: " + kinds);
      }
    }
    const bool draw = args->has("--draw") || args->has("--svg");
    if (args->has("--mark") && !draw) return fail(result, "vma map: --mark: give --draw or --svg FILE too");
    if (draw && (args->has("--json") || filter.kind || filter.gaps))
      return fail(result, "vma map: --draw and --svg show the whole address space: not with --json, --kind or --gaps");
    Result<ProcessView*> view = cache_->current(debugger);
    if (!view) return fail(result, "vma map: " + view.error().message);
    std::optional<Addr> mark;
    if (auto it = args->flags.find("--mark"); it != args->flags.end()) {
      lldb::SBTarget target = (*view)->target();
      Result<Addr> a = evaluate_address(target, (*view)->process(), it->second);
      if (!a) return fail(result, "vma map: --mark: " + a.error().message);
      mark = *a;
      view = cache_->current(debugger);  // the expression may have run code
      if (!view) return fail(result, "vma map: " + view.error().message);
    }
    warn_note(result, **view);
    Result<const AddressMap*> map = (*view)->address_map(cache_->elf_cache());
    if (!map) return fail(result, "vma map: " + map.error().message);
    if (draw) {
      Result<std::string> text = drawing(*args, **map, debugger.GetUseColor(), mark, "mark");
      if (!text) return fail(result, "vma map: " + text.error().message);
      return print(result, *text);
    }
    if (args->has("--json")) return print(result, map_json_text(**map, filter) + "\n");
    return print(result, map_text(**map, filter, TextStyle{debugger.GetUseColor()}));
  });
}

bool FaultCommand::DoExecute(lldb::SBDebugger debugger, char** command,
                             lldb::SBCommandReturnObject& result) {
  return guarded(result, "vma fault", [&] {
    const std::vector<std::string> argv = to_args(command);
    Result<ParsedArgs> args = parse_args(argv, kFaultFlags);
    if (!args) return fail(result, "vma fault: " + args.error().message);
    if (!args->operands.empty())
      return fail(result, "vma fault: unexpected argument '" + args->operands.front() +
                              "'; valid options: " + describe_flags(kFaultFlags));
    if (args->has("--json") && (args->has("--draw") || args->has("--svg")))
      return fail(result, "vma fault: --draw and --svg: not with --json");
    Result<ProcessView*> view = cache_->current(debugger);
    if (!view) return fail(result, "vma fault: " + view.error().message);
    warn_note(result, **view);
    lldb::SBTarget target = (*view)->target();
    lldb::SBThread thread = (*view)->process().GetSelectedThread();
    if (!thread.IsValid()) return fail(result, "vma fault: no selected thread");
    const lldb::StopReason reason = thread.GetStopReason();
    if (reason != lldb::eStopReasonSignal && reason != lldb::eStopReasonException)
      return fail(result, "vma fault: thread " + std::to_string(thread.GetThreadID()) +
                              " stopped for " + stop_reason_name(reason) +
                              ", not a signal; vma fault needs a stop at a signal");

    Fault fault;
    bool from_siginfo = false;
    lldb::SBValue siginfo = thread.GetSiginfo();
    if (siginfo.IsValid() && siginfo.GetError().Success()) {
      std::optional<std::int64_t> signo = signed_child(siginfo, "si_signo");
      std::optional<std::int64_t> code = signed_child(siginfo, "si_code");
      if (signo && code) {
        from_siginfo = true;
        fault.signo = static_cast<int>(*signo);
        fault.code = static_cast<int>(*code);
        if (siginfo_has_address(fault.signo, fault.code)) {
          lldb::SBValue addr = siginfo.GetChildMemberWithName("_sifields")
                                   .GetChildMemberWithName("_sigfault")
                                   .GetChildMemberWithName("si_addr");
          lldb::SBError e;
          const std::uint64_t a = addr.GetValueAsUnsigned(e, 0);
          if (addr.IsValid() && e.Success()) fault.addr = a;
        }
      }
    }
#ifdef VMAKIT_HAVE_CORE_SOURCE
    // LLDB 19 reads no siginfo from cores; core's reader has NT_SIGINFO.
    if (!from_siginfo && (*view)->core() != nullptr &&
        (*view)->core()->fatal_tid() == static_cast<int>(thread.GetThreadID())) {
      if (std::optional<Fault> f = (*view)->core()->fatal_fault()) {
        fault = *f;
        from_siginfo = true;
      }
    }
#endif
    if (!from_siginfo) {
      // No siginfo (LLDB cannot read it for this process kind): the signal
      // number is all the stop reason carries.
      if (reason != lldb::eStopReasonSignal || thread.GetStopReasonDataCount() < 1)
        return fail(result, "vma fault: LLDB has neither siginfo nor a signal number for thread " +
                                std::to_string(thread.GetThreadID()));
      fault.signo = static_cast<int>(thread.GetStopReasonDataAtIndex(0));
      result.AppendWarning(
          "LLDB has no siginfo for this thread: si_code and the fault address are unknown; "
          "the signal comes from the stop reason\n");
    }
    lldb::SBFrame frame0 = thread.GetFrameAtIndex(0);
    if (frame0.IsValid() && frame0.GetPC() != LLDB_INVALID_ADDRESS) {
      fault.pc = frame0.GetPC();
      fault.instruction = instruction_at(target, *fault.pc);
    }

    if (from_siginfo && !is_memory_fault(fault.signo, fault.code)) {
      // The entry stop of `process launch -s`, a breakpoint's SIGTRAP, a
      // SIGSTOP: nothing at si_addr to annotate (core decides, signals.h).
      if (args->has("--json")) return print_json(result, not_a_fault_json(fault));
      std::string text = not_a_fault_text(fault);
      if (args->has("--draw") || args->has("--svg")) {
        Result<const AddressMap*> map = (*view)->address_map(cache_->elf_cache());
        if (!map) return fail(result, "vma fault: " + map.error().message);
        Result<std::string> picture = drawing(*args, **map, debugger.GetUseColor(), fault.pc, "pc");
        if (!picture) return fail(result, "vma fault: " + picture.error().message);
        text += *picture;
      }
      return print(result, text);
    }

    Annotation at_addr;
    if (fault.addr) {
      Result<Annotation> ann = (*view)->annotate_address(*fault.addr, cache_->elf_cache());
      if (!ann) return fail(result, "vma fault: " + ann.error().message);
      at_addr = std::move(*ann);
    }
    if (!from_siginfo) {
      // Only the signal is known. core's Fault has no "code unknown", and 0
      // would read as SI_USER (sent by kill): say "unknown" instead.
      if (args->has("--json")) {
        nlohmann::json j = fault_json(fault, at_addr);
        j["code"] = nullptr;
        j["si_code"] = nullptr;
        j["at"] = nullptr;
        j["explanation"] = nullptr;
        return print_json(result, j);
      }
    }
    if (args->has("--json")) return print_json(result, fault_json(fault, at_addr));
    std::string text;
    if (from_siginfo) {
      text = fault_text(fault, at_addr, TextStyle{debugger.GetUseColor()});
    } else {
      text = signal_name(fault.signo) + " (si_code unknown: no siginfo)\n";
      if (fault.pc)
        text += "    pc         " + hex(*fault.pc) + (fault.instruction.empty() ? "" : "  " + safe_text(fault.instruction)) + "\n";
    }
    if (args->has("--draw") || args->has("--svg")) {
      Result<const AddressMap*> map = (*view)->address_map(cache_->elf_cache());
      if (!map) return fail(result, "vma fault: " + map.error().message);
      Result<std::string> picture =
          drawing(*args, **map, debugger.GetUseColor(), fault.addr ? fault.addr : fault.pc, "fault");
      if (!picture) return fail(result, "vma fault: " + picture.error().message);
      text += *picture;
    }
    return print(result, text);
  });
}

bool register_commands(lldb::SBDebugger& debugger) {
  lldb::SBCommandInterpreter interpreter = debugger.GetCommandInterpreter();
  lldb::SBCommand vma = interpreter.AddMultiwordCommand(
      "vma", "vmakit: what is at an address of the debugged process, and why it faulted.");
  if (!vma.IsValid()) return false;
  auto cache = std::make_shared<StopCache>();
  const std::string legend = legend_text(TextStyle{false});

  lldb::SBCommand whereis = vma.AddCommand(
      "whereis", new WhereisCommand(cache),
      "Annotate addresses: region kind, bounds, permissions, file, section, symbol, thread.",
      "vma whereis [--json] <expr>...");
  whereis.SetHelpLong(
      ("Each <expr> is an LLDB expression evaluated in the selected frame ($rsp, $pc,\n"
       "&global, ptr->next, 0x7ffd1234); separate expressions with spaces and quote\n"
       "one that has spaces (\"buf + 16\"). A pointer, integer or register gives its\n"
       "value; an array or function gives its address.\n"
       "--json prints the same array as `vma whereis --pid PID --json`.\n\nKinds:\n" +
       legend)
          .c_str());

  lldb::SBCommand map = vma.AddCommand(
      "map", new MapCommand(cache),
      "The classified memory map of the process, like 'memory region --all' with kinds.",
      "vma map [--json] [--kind K] [--gaps] [--draw] [--svg FILE] [--mark EXPR]");
  map.SetHelpLong(("--kind K shows only regions of kind K; --gaps adds the unmapped gaps;\n"
                   "--draw draws the whole address space to the terminal's size (else COLUMNS and\n"
                   "LINES, else 80x40); --svg FILE writes the drawing as SVG; --mark EXPR points at\n"
                   "an address in the drawing.\n"
                   "--json prints {\"regions\": [...]} as `vma map --pid PID --json` does.\n"
                   "A live local process is read from /proc/PID; a remote process or a core\n"
                   "from LLDB's region list.\n\nKinds:\n" +
                   legend)
                      .c_str());

  lldb::SBCommand fault = vma.AddCommand(
      "fault", new FaultCommand(cache),
      "At a signal stop: the signal, its si_code, the fault address annotated, the faulting "
      "instruction and one line of explanation.",
      "vma fault [--json] [--draw] [--svg FILE]");
  fault.SetHelpLong(
      "Reads the selected thread's siginfo (si_signo, si_code, si_addr); where LLDB has\n"
      "none, only the signal number from the stop reason is known.\n"
      "--draw adds the drawing of the address space pointing at the fault address;\n"
      "--svg FILE writes it as SVG.\n");
  return true;
}

}  // namespace vma::lldb_plugin
