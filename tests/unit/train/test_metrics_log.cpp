// metrics.jsonl: lines appended as they come; a resumed run keeps the lines up to its step
// and drops the ones the interrupted run wrote after it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "train/metrics_log.h"
#include "unit/io/io_test_util.h"

namespace fusebox::train {
namespace {

using io::testing::TempDir;

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

MetricsRecord line(int64_t step, double loss) {
  MetricsRecord r;
  r["step"] = step;
  r["loss"] = loss;
  return r;
}

TEST(MetricsLog, AppendsOneFlushedLinePerRecord) {
  TempDir dir;
  auto log = MetricsLog::start_fresh(dir.path().string());
  log.append(line(1, 2.5));
  // Visible before the log is closed: a reader (tail -f, a crash) sees every finished line.
  EXPECT_EQ(lines_of(log.path()), (std::vector<std::string>{R"({"step":1,"loss":2.5})"}));
  log.append(line(2, 2.25));
  EXPECT_EQ(lines_of(log.path()).size(), 2u);
}

TEST(MetricsLog, ResumeDropsLinesAfterTheResumedStep) {
  TempDir dir;
  {
    auto log = MetricsLog::start_fresh(dir.path().string());
    for (int64_t step : {0, 2, 4, 6, 8})
      log.append(line(step, 1.0 / static_cast<double>(step + 1)));
  }
  std::ofstream(dir / kMetricsFileName, std::ios::app) << "{\"step\": 10, \"lo";  // torn
  auto log = MetricsLog::resume(dir.path().string(), 4, {});
  log.append(line(6, 0.5));
  auto lines = lines_of(log.path());
  ASSERT_EQ(lines.size(), 4u);
  std::vector<int64_t> steps;
  for (const auto& l : lines)
    steps.push_back(MetricsRecord::parse(l)["step"].get<int64_t>());
  EXPECT_EQ(steps, (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(MetricsRecord::parse(lines[3])["loss"].get<double>(), 0.5);  // the new line
}

TEST(MetricsLog, ResumeIntoAnotherDirectoryStartsFromTheHistory) {
  TempDir dir;
  auto log = MetricsLog::resume(dir.path().string(), 4, {line(2, 3.0), line(4, 2.0)});
  EXPECT_EQ(lines_of(log.path()),
            (std::vector<std::string>{R"({"step":2,"loss":3.0})", R"({"step":4,"loss":2.0})"}));
}

TEST(MetricsLog, RecordsCarryTheDocumentedKeys) {
  TrainLogValues v;
  v.step = 20;
  v.epoch = 0.5;
  v.loss = 1.25;
  v.learning_rate = 1e-3;
  v.grad_norm = 0.75;
  v.tokens_per_second = 1000;
  v.tokens_seen = 4096;
  v.elapsed_seconds = 3.5;
  auto r = train_record(v, torch::Device(torch::kCPU));
  for (const char* key :
       {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "tokens_seen",
        "elapsed_seconds", "memory_rss_bytes", "memory_peak_rss_bytes"})
    EXPECT_TRUE(r.contains(key)) << key;
  EXPECT_GT(r["memory_peak_rss_bytes"].get<int64_t>(), 0);
  v.grad_norm = -1;
  EXPECT_FALSE(train_record(v, torch::Device(torch::kCPU)).contains("grad_norm"));

  EvalResult e;
  e.loss = 2.0;
  e.perplexity = 7.389;
  e.examples = 16;
  auto without = eval_record(20, 0.5, e, 4.0);
  EXPECT_FALSE(without.contains("eval_exact_match"));
  e.exact_match = 0.25;
  auto with = eval_record(20, 0.5, e, 4.0);
  EXPECT_EQ(with["eval_loss"].get<double>(), 2.0);
  EXPECT_EQ(with["eval_perplexity"].get<double>(), 7.389);
  EXPECT_EQ(with["eval_exact_match"].get<double>(), 0.25);

  auto curve = loss_curve_of({r, with, line(30, 0.5)}, "run");
  EXPECT_EQ(curve.train.size(), 2u);
  ASSERT_EQ(curve.eval.size(), 1u);
  EXPECT_EQ(curve.eval[0].step, 20);
}

}  // namespace
}  // namespace fusebox::train
