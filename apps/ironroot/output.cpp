#include "output.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
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

bool ProgressLine::enabled_for(const Output& out) {
  return !out.json && ::isatty(STDERR_FILENO) == 1;
}

void ProgressLine::draw(const std::string& label, std::int64_t done, std::int64_t total,
                        const std::string& details) {
  if (!enabled_) return;
  constexpr std::int64_t kWidth = 30;
  const std::int64_t filled =
      total <= 0 ? kWidth : std::clamp<std::int64_t>(done, 0, total) * kWidth / total;
  std::fprintf(stderr, "\r\033[K%s%s[%s%s] %lld/%lld  %s", label.c_str(), label.empty() ? "" : " ",
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), '-').c_str(),
               static_cast<long long>(done), static_cast<long long>(total), details.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

namespace {

// Moves the cursor to the start of the first of the `rows` lines above it and erases from there.
void erase_rows(int rows) {
  if (rows > 0) std::fprintf(stderr, "\033[%dF", rows);
  std::fputs("\r\033[J", stderr);
}

}  // namespace

void LiveText::draw(const std::string& text) {
  if (!enabled_) return;
  winsize size{};
  const std::size_t width =
      ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 ? size.ws_col - 1u : 79u;
  erase_rows(rows_);
  rows_ = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, std::min(end - start, width));
    std::fprintf(stderr, "%s\n", line.c_str());
    ++rows_;
    start = end + 1;
  }
  std::fflush(stderr);
}

void LiveText::clear() {
  if (!enabled_ || rows_ == 0) return;
  erase_rows(rows_);
  rows_ = 0;
  std::fflush(stderr);
}

}  // namespace ironroot::cli
