// Opening the files the data layer reads (tokenizer.json, datasets) with messages that say
// what was wrong: missing (with the working directory, since relative paths are the usual
// cause), a directory, or unreadable.
#pragma once

#include <fstream>
#include <string>

namespace fusebox::data {

// `what` names the file's role in messages: "dataset", "tokenizer". Throws DataError.
std::ifstream open_input_file(const std::string& path, const std::string& what);

// The whole file. Throws DataError.
std::string read_input_file(const std::string& path, const std::string& what);

}  // namespace fusebox::data
