// manyfold: the command-line tool. Argument parsing and dispatch only; the work is in the libraries.
#include <iostream>

#include "command.h"
#include "mf/core/error.h"
#include "mf/io/runtime.h"

namespace {

int print_help(const std::vector<std::string>& args) {
  const auto& cmds = mf::cli::commands();
  if (!args.empty()) {
    auto it = cmds.find(args[0]);
    if (it == cmds.end()) return mf::cli::usage_error("help", "unknown command '" + args[0] + "'");
    std::cout << it->second.usage << "\n";
    return 0;
  }
  std::cout << "manyfold " << MF_VERSION << " - Manyfold Studio command-line tool\n\nCommands:\n";
  for (auto& [name, c] : cmds) {
    std::cout << "  " << name;
    for (size_t i = name.size(); i < 20; ++i) std::cout << ' ';
    std::cout << c.summary << "\n";
  }
  std::cout << "\nRun 'manyfold help COMMAND' for a command's options.\n";
  return 0;
}

MF_CLI_COMMAND("help", "list commands, or show one command's usage", "manyfold help [COMMAND]", print_help);

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") return print_help({});
  if (args[0] == "--version") {
    std::cout << "manyfold " << MF_VERSION << "\n";
    return 0;
  }
  const auto& cmds = mf::cli::commands();
  auto it = cmds.find(args[0]);
  if (it == cmds.end()) {
    std::cerr << "manyfold: unknown command '" << args[0] << "'. Run 'manyfold help' for the list.\n";
    return mf::cli::kExitUsage;
  }
  mf::io::init_torch_runtime();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    return it->second.run(rest);
  } catch (const mf::Error& e) {
    std::cerr << "manyfold " << args[0] << ": " << mf::to_string(e.code()) << ": " << e.what() << "\n";
    return mf::exit_code_for(e.code());
  } catch (const std::invalid_argument& e) {
    return mf::cli::usage_error(args[0], e.what());
  } catch (const std::exception& e) {
    std::cerr << "manyfold " << args[0] << ": internal error: " << e.what() << "\n";
    return mf::exit_code_for(mf::ErrorCode::Internal);
  }
}
