#include "output.hpp"

#include <iostream>

namespace ironroot::cli {

void Output::result(const std::string& text, const nlohmann::json& document) const {
  if (json) {
    std::cout << document.dump(2) << "\n";
  } else {
    std::cout << text;
    if (!text.empty() && text.back() != '\n') std::cout << "\n";
  }
}

int Output::failure(const std::string& message) const {
  std::cerr << "error: " << message << "\n";
  if (json) std::cout << nlohmann::json{{"error", message}}.dump(2) << "\n";
  return kExitFailure;
}

int Output::usage_error(const std::string& message) const {
  failure(message);
  return kExitUsage;
}

int run_command_line(CLI::App& app, int argc, char** argv, const int& exit_code) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return exit_code;
}

}  // namespace ironroot::cli
