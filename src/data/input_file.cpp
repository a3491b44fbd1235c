#include "data/input_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::data {

namespace fs = std::filesystem;

std::ifstream open_input_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (ec) throw DataError(str("cannot access ", what, " file '", path, "': ", ec.message()));
  if (!exists) {
    throw DataError(str(what, " file '", path,
                        "' not found (working directory: ", fs::current_path(ec).string(), ")"));
  }
  if (fs::is_directory(path, ec)) {
    throw DataError(str(what, " file '", path, "' is a directory; expected a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(str("cannot read ", what, " file '", path, "': ", std::strerror(errno)));
  return in;
}

std::string read_input_file(const std::string& path, const std::string& what) {
  std::ifstream in = open_input_file(path, what);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw DataError(str("cannot read ", what, " file '", path, "': ", std::strerror(errno)));
  }
  return text.str();
}

}  // namespace fusebox::data
