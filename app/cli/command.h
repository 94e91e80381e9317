// The command-line tool's subcommand registry and a small argument parser.
// Each subcommand lives in its own file cmd_<name>.cpp and registers itself with MF_CLI_COMMAND,
// so subcommands are added without touching a shared list. Single-threaded use.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mf::cli {

// Exit codes: 0 ok, 1 a check failed (e.g. parity above tolerance), 2 usage error;
// errors with an mf::ErrorCode exit with mf::exit_code_for(code) (3 and up).
constexpr int kExitOk = 0;
constexpr int kExitCheckFailed = 1;
constexpr int kExitUsage = 2;

using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  std::string name;
  std::string summary;  // one line for `manyfold help`
  std::string usage;    // full usage text for `manyfold help NAME`
  CommandFn run;
};

void register_command(Command c);
const std::map<std::string, Command>& commands();

struct Registrar {
  explicit Registrar(Command c) { register_command(std::move(c)); }
};

// Parses `--key value`, `--key=value`, boolean `--flag` and positionals.
// Flags named in `boolean_flags` never take a value. Repeated flags keep every value.
class Args {
 public:
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& boolean_flags = {});
  bool has(const std::string& key) const;
  std::optional<std::string> get(const std::string& key) const;
  std::string get_or(const std::string& key, const std::string& fallback) const;
  std::vector<std::string> get_all(const std::string& key) const;
  int get_int(const std::string& key, int fallback) const;
  double get_double(const std::string& key, double fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  // Flags given but not in `known`; commands report them as usage errors.
  std::vector<std::string> unknown(const std::vector<std::string>& known) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positionals_;
};

// Prints "manyfold NAME: message" to stderr and returns kExitUsage.
int usage_error(const std::string& name, const std::string& message);

}  // namespace mf::cli

#define MF_CLI_CAT2(a, b) a##b
#define MF_CLI_CAT(a, b) MF_CLI_CAT2(a, b)
#define MF_CLI_COMMAND(NAME, SUMMARY, USAGE, FN) \
  static ::mf::cli::Registrar MF_CLI_CAT(mf_cli_registrar_, __LINE__)({NAME, SUMMARY, USAGE, FN})
