// fusebox's exception types. Every user-facing failure is one of these; the programs catch
// them at main(), print the message and exit non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace fusebox {

// Base of all fusebox errors.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A config file, command-line override or option is wrong. The message names the file,
// line, key path and what was expected.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A kernel was asked for that cannot be given: unknown id, other device, no backward in
// strict training mode, duplicate registration.
class KernelError : public Error {
 public:
  using Error::Error;
};

// A dataset, checkpoint or other file is missing or malformed.
class DataError : public Error {
 public:
  using Error::Error;
};

}  // namespace fusebox
