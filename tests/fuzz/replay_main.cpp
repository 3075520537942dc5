// The main() of the replay builds: runs a fuzz target once on every input named on the command line
// (a directory stands for every file in it, in name order), the way libFuzzer runs a single input.
// Each input is copied into a buffer of exactly its size, so builds with AddressSanitizer catch a
// read past its end. A replay that finds no input fails: an empty corpus would test nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool collect(const fs::path& argument, std::vector<fs::path>& inputs) {
  std::error_code ec;
  if (!fs::is_directory(argument, ec)) {
    inputs.push_back(argument);
    return true;
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(argument, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) {
    std::fprintf(stderr, "replay: cannot list %s: %s\n", argument.c_str(), ec.message().c_str());
    return false;
  }
  std::sort(files.begin(), files.end());
  inputs.insert(inputs.end(), files.begin(), files.end());
  return true;
}

bool replay(const fs::path& input) {
  std::ifstream file(input, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "replay: cannot read %s\n", input.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) {
    std::fprintf(stderr, "replay: cannot read %s\n", input.c_str());
    return false;
  }
  const auto copy = std::make_unique<std::uint8_t[]>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), copy.get());
  // A crash names the input: stderr is unbuffered, so this line comes out first.
  std::fprintf(stderr, "replay: %s\n", input.c_str());
  LLVMFuzzerTestOneInput(copy.get(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!collect(argv[i], inputs)) return 1;
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...  (found no input to replay)\n", argv[0]);
    return 1;
  }
  for (const auto& input : inputs) {
    if (!replay(input)) return 1;
  }
  std::printf("replayed %zu inputs\n", inputs.size());
  return 0;
}
