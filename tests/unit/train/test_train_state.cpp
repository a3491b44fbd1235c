// trainer_state.json: a round trip keeps every value exactly; a damaged file is an error that
// names the file and the key.
#include <gtest/gtest.h>

#include <fstream>

#include "train/train_state.h"
#include "unit/io/io_test_util.h"
#include "util/error.h"

namespace fusebox::train {
namespace {

using io::testing::TempDir;

TrainerState sample_state() {
  TrainerState s;
  s.global_step = 35;
  s.total_steps = 120;
  s.epoch = 1.0 + 1.0 / 3.0;
  s.batcher = {1, 4};
  s.batches_per_epoch = 12;
  s.tokens_seen = 123456789;
  s.train_seconds = 12.345678901234567;
  s.window_loss_sum = 0.1 + 0.2;  // not representable in few digits: must survive exactly
  s.window_steps = 3;
  s.lr_scheduler_type = "cosine";
  s.base_learning_rate = 3e-3;
  s.warmup_steps = 10;
  s.last_learning_rate = 2.9876543210987654e-3;
  config::TrainConfig cfg;
  s.settings = resume_settings(cfg);
  s.log_history = {{{"step", 0}, {"eval_loss", 5.5}}, {{"step", 10}, {"loss", 4.25}}};
  return s;
}

std::string write(const TempDir& dir, const std::string& text) {
  std::string path = dir / "trainer_state.json";
  std::ofstream(path) << text;
  return path;
}

std::string error_reading(const std::string& path) {
  try {
    read_trainer_state(path);
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no DataError thrown>";
}

TEST(TrainerState, JsonRoundTripIsExact) {
  TempDir dir;
  TrainerState s = sample_state();
  TrainerState back = read_trainer_state(write(dir, trainer_state_to_json(s)));
  EXPECT_EQ(back.global_step, s.global_step);
  EXPECT_EQ(back.total_steps, s.total_steps);
  EXPECT_EQ(back.epoch, s.epoch);
  EXPECT_EQ(back.batcher.epoch, 1);
  EXPECT_EQ(back.batcher.index, 4);
  EXPECT_EQ(back.batches_per_epoch, 12);
  EXPECT_EQ(back.tokens_seen, s.tokens_seen);
  EXPECT_EQ(back.train_seconds, s.train_seconds);
  EXPECT_EQ(back.window_loss_sum, s.window_loss_sum);
  EXPECT_EQ(back.window_steps, 3);
  EXPECT_EQ(back.lr_scheduler_type, "cosine");
  EXPECT_EQ(back.base_learning_rate, 3e-3);
  EXPECT_EQ(back.warmup_steps, 10);
  EXPECT_EQ(back.last_learning_rate, s.last_learning_rate);
  EXPECT_EQ(back.settings, s.settings);
  EXPECT_EQ(back.log_history, s.log_history);
}

TEST(TrainerState, DamagedFilesNameTheFileAndKey) {
  TempDir dir;
  std::string path = write(dir, "{\"global_step\": 3, ");  // truncated
  std::string message = error_reading(path);
  EXPECT_NE(message.find(path + ": not valid JSON"), std::string::npos) << message;

  auto j = nlohmann::ordered_json::parse(trainer_state_to_json(sample_state()));
  j.erase("batcher");
  message = error_reading(write(dir, j.dump()));
  EXPECT_NE(message.find("key 'batcher' is missing"), std::string::npos) << message;

  j = nlohmann::ordered_json::parse(trainer_state_to_json(sample_state()));
  j["batcher"]["index"] = "four";
  message = error_reading(write(dir, j.dump()));
  EXPECT_NE(message.find("key 'batcher.index' expected an integer, got \"four\""),
            std::string::npos)
      << message;

  j = nlohmann::ordered_json::parse(trainer_state_to_json(sample_state()));
  j["global_step"] = 500;
  message = error_reading(write(dir, j.dump()));
  EXPECT_NE(message.find("expected 0..total_steps (120)"), std::string::npos) << message;

  EXPECT_NE(error_reading(write(dir, "[1, 2]")).find("expected the top level to be a JSON object"),
            std::string::npos);
  EXPECT_NE(error_reading(dir / "missing.json").find("cannot read"), std::string::npos);
}

TEST(TrainerState, ChangedSettingsNameKeyAndBothValues) {
  config::TrainConfig a, b;
  b.micro_batch_size = 16;
  b.lr_scheduler_type = "linear";
  auto changes = changed_settings(resume_settings(a), resume_settings(b));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], "micro_batch_size: saved 8, now 16");
  EXPECT_EQ(changes[1], "lr_scheduler_type: saved \"cosine\", now \"linear\"");
  EXPECT_TRUE(changed_settings(resume_settings(a), resume_settings(a)).empty());
}

}  // namespace
}  // namespace fusebox::train
