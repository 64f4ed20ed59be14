// Replays a fuzz corpus without libFuzzer: feeds every regular file of the
// directories (and every file) given on the command line to
// LLVMFuzzerTestOneInput. Used as a ctest case so that every corpus entry (and
// every crash once reproduced) stays a regression test in ordinary builds;
// given one file, it reproduces that input alone.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR_OR_FILE...\n";
    return 1;
  }
  // Sorted so that a failing run is reproducible and its log easy to read.
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path = argv[i];
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
      files.push_back(path);  // one input, e.g. a crash to reproduce
      continue;
    }
    if (!std::filesystem::is_directory(path, ec)) {
      std::cerr << "error: " << path << " is neither a corpus directory nor an input file\n";
      return 1;
    }
    std::vector<std::filesystem::path> entries;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file()) entries.push_back(entry.path());
    }
    std::sort(entries.begin(), entries.end());
    files.insert(files.end(), entries.begin(), entries.end());
  }

  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "error: cannot read " << file << "\n";
      return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    // A non-null pointer even for empty files, as libFuzzer passes.
    static const std::uint8_t kEmpty = 0;
    const auto* data =
        bytes.empty() ? &kEmpty : reinterpret_cast<const std::uint8_t*>(bytes.data());
    LLVMFuzzerTestOneInput(data, bytes.size());
  }
  std::cout << "replayed " << files.size() << " inputs\n";
  return 0;
}
