// fusebox_bench_tokenizer: encoding speed of a tokenizer.json (default: the test fixture) on a
// generated corpus. Prints a table; --json writes the numbers. Torch-free.
//
//   fusebox_bench_tokenizer                                   # fixture, 4 MB, 3 runs
//   fusebox_bench_tokenizer --tokenizer /models/Qwen3-0.6B --mbytes 16 --json out.json
//
// "cold" encodes the corpus with a freshly loaded tokenizer (empty word cache), "warm" encodes
// it again with the same one. The corpus is deterministic: words drawn with a Zipf-like law
// from 3000 made-up words (--words) (so the cache sees a realistic mix of hits and misses), digits,
// punctuation, and some accented, CJK and emoji text.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "data/hf_tokenizer.h"
#include "data/portable_random.h"

namespace {

using fusebox::data::uniform_below;

std::vector<std::string> make_words(std::mt19937_64& rng, std::size_t n) {
  const std::vector<std::string> syllables = {"ka",  "ten", "so", "ri",  "mol",  "de",  "la", "ne",
                                              "tra", "in",  "ex", "per", "ment", "ion", "al", "ing",
                                              "qu",  "th",  "er", "ou",  "st",   "ph",  "by"};
  std::vector<std::string> words = {"the",    "of",       "and",  "to",      "a",
                                    "in",     "is",       "it",   "that",    "model",
                                    "tokens", "training", "loss", "gradient"};
  while (words.size() < n) {
    std::string w;
    const uint64_t parts = 1 + uniform_below(rng, 4);
    for (uint64_t p = 0; p < parts; ++p)
      w += syllables[uniform_below(rng, syllables.size())];
    words.push_back(w);
  }
  return words;
}

// Documents of sentences separated by newlines; about `bytes` bytes in all.
std::vector<std::string> make_corpus(std::size_t bytes, std::size_t vocabulary, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<std::string> words = make_words(rng, vocabulary);
  const std::vector<std::string> extras = {"caf\u00e9",  "na\u00efve",  "\u4e2d\u6587\u5206\u8bcd",
                                           "\U0001F600", "Stra\u00dfe", "it's",
                                           "we'll",      "x^2 + y^2",   "(see \u00a73)",
                                           "\u2014"};
  // Zipf-like rank: floor(n^u) for u uniform in [0, 1) favours small ranks.
  auto zipf = [&](std::size_t n) {
    const double u = static_cast<double>(uniform_below(rng, 1u << 30)) / (1u << 30);
    return std::min(n - 1, static_cast<std::size_t>(std::pow(static_cast<double>(n), u)) - 1);
  };
  std::vector<std::string> docs;
  std::size_t total = 0;
  while (total < bytes) {
    std::string doc;
    const uint64_t sentences = 1 + uniform_below(rng, 12);
    for (uint64_t s = 0; s < sentences; ++s) {
      const uint64_t n = 4 + uniform_below(rng, 16);
      for (uint64_t k = 0; k < n; ++k) {
        if (k > 0) doc += ' ';
        const uint64_t kind = uniform_below(rng, 100);
        if (kind < 4) {
          doc += std::to_string(uniform_below(rng, 100000));
        } else if (kind < 7) {
          doc += extras[uniform_below(rng, extras.size())];
        } else {
          std::string w = words[zipf(words.size())];
          if (k == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
          doc += w;
        }
      }
      doc += uniform_below(rng, 5) == 0 ? "!\n" : ".\n";
    }
    total += doc.size();
    docs.push_back(std::move(doc));
  }
  return docs;
}

struct Pass {
  double seconds = 0;
  int64_t tokens = 0;
};

Pass encode_all(const fusebox::data::Tokenizer& tok, const std::vector<std::string>& docs) {
  const auto start = std::chrono::steady_clock::now();
  Pass p;
  for (const std::string& d : docs)
    p.tokens += static_cast<int64_t>(tok.encode(d).size());
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fusebox_bench_tokenizer: tokenizer.json encoding speed"};
  std::string tokenizer_path = std::string(FUSEBOX_SOURCE_DIR) + "/tests/fixtures/tokenizer";
  double mbytes = 4;
  int runs = 3;
  std::size_t vocabulary = 3000;
  std::string json_path;
  app.add_option("--tokenizer", tokenizer_path, "tokenizer.json or a directory holding one");
  app.add_option("--mbytes", mbytes, "corpus size in MB")->check(CLI::PositiveNumber);
  app.add_option("--runs", runs, "runs per pass; the median is reported")
      ->check(CLI::PositiveNumber);
  app.add_option("--words", vocabulary, "distinct made-up words (more = fewer cache hits)")
      ->check(CLI::Range(20, 10000000));
  app.add_option("--json", json_path, "write the results here");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto docs = make_corpus(static_cast<std::size_t>(mbytes * 1e6), vocabulary, 1);
    std::size_t bytes = 0;
    for (const auto& d : docs)
      bytes += d.size();
    std::vector<double> cold, warm;
    int64_t tokens = 0;
    std::string description;
    for (int r = 0; r < runs; ++r) {
      const auto tok = fusebox::data::load_hf_tokenizer(tokenizer_path);
      description = tok->describe();
      const Pass c = encode_all(*tok, docs);
      const Pass w = encode_all(*tok, docs);
      if (c.tokens != w.tokens) throw std::runtime_error("cold and warm passes disagree");
      tokens = c.tokens;
      cold.push_back(c.seconds);
      warm.push_back(w.seconds);
    }
    const double mb = static_cast<double>(bytes) / 1e6;
    std::printf("tokenizer: %s\ncorpus: %.2f MB, %zu documents, %lld tokens (%.2f bytes/token)\n",
                description.c_str(), mb, docs.size(), static_cast<long long>(tokens),
                static_cast<double>(bytes) / static_cast<double>(tokens));
    std::printf("%-6s %10s %10s %14s\n", "pass", "seconds", "MB/s", "tokens/s");
    nlohmann::json out = {{"tokenizer", description},
                          {"bytes", bytes},
                          {"tokens", tokens},
                          {"documents", docs.size()},
                          {"runs", runs}};
    for (const auto& [name, times] : {std::pair{"cold", cold}, std::pair{"warm", warm}}) {
      const double s = median(times);
      const double tps = static_cast<double>(tokens) / s;
      std::printf("%-6s %10.3f %10.2f %14.0f\n", name, s, mb / s, tps);
      out[name] = {{"seconds", s}, {"mb_per_s", mb / s}, {"tokens_per_s", tps}};
    }
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
