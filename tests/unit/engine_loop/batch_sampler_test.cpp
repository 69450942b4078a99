// The batch sampler gives what sampling each sequence in order on one thread gives, for any
// number of threads, batch after batch.
#include "daemon/engine/batch_sampler.h"

#include <gtest/gtest.h>

#include <random>

namespace mm {
namespace {

struct Batch {
  std::vector<std::vector<float>> rows;
  std::vector<SamplingParams> params;
  std::vector<std::vector<int32_t>> outputs;
};

Batch make_batch(std::mt19937& rng, int num_seqs, int vocab) {
  Batch b;
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int s = 0; s < num_seqs; ++s) {
    std::vector<float> row(static_cast<size_t>(vocab));
    for (float& v : row)
      v = normal(rng);
    b.rows.push_back(std::move(row));
    SamplingParams p;
    switch (s % 4) {
      case 0:
        p.temperature = 0.0f;
        break;
      case 1:
        p.top_p = 0.95f, p.top_k = 40;
        break;
      case 2:
        p.top_p = 0.9f, p.logprobs = 2;
        break;
      default:
        p.min_p = 0.05f, p.repetition_penalty = 1.2f;
        break;
    }
    b.params.push_back(p);
    b.outputs.push_back({s % vocab, (3 * s) % vocab});
  }
  return b;
}

std::vector<SampleResult> run(BatchSampler* sampler, const Batch& b, uint64_t seed_base) {
  std::vector<std::vector<float>> rows = b.rows;  // scratch copies
  std::vector<SampleJob> jobs;
  for (size_t s = 0; s < rows.size(); ++s)
    jobs.push_back({rows[s], &b.params[s], SamplerContext{{}, b.outputs[s], {}, seed_base + s}});
  std::vector<SampleResult> results(jobs.size());
  if (sampler != nullptr) {
    sampler->sample(jobs, results);
  } else {
    for (size_t s = 0; s < jobs.size(); ++s)
      results[s] = sample_token(jobs[s].logits, *jobs[s].params, jobs[s].context);
  }
  return results;
}

TEST(BatchSampler, ParallelResultsEqualSerialOrder) {
  std::mt19937 rng(5);
  for (int threads : {1, 2, 3, 8}) {
    BatchSampler sampler(threads);
    EXPECT_EQ(sampler.num_threads(), threads);
    for (int round = 0; round < 20; ++round) {
      const int num_seqs = round % 5 == 0 ? 1 : 1 + (round * 7) % 40;
      const Batch b = make_batch(rng, num_seqs, round % 2 == 0 ? 5003 : 200064 / 8);
      const auto serial = run(nullptr, b, static_cast<uint64_t>(round) * 1000);
      const auto parallel = run(&sampler, b, static_cast<uint64_t>(round) * 1000);
      ASSERT_EQ(parallel.size(), serial.size());
      for (size_t s = 0; s < serial.size(); ++s) {
        EXPECT_EQ(parallel[s].token_id, serial[s].token_id) << threads << " " << round << " " << s;
        ASSERT_EQ(parallel[s].logprob.has_value(), serial[s].logprob.has_value());
        if (serial[s].logprob) {
          EXPECT_EQ(parallel[s].logprob->logprob, serial[s].logprob->logprob);
          EXPECT_EQ(parallel[s].top_logprobs.size(), serial[s].top_logprobs.size());
        }
      }
    }
  }
}

TEST(BatchSampler, EmptyBatchAndDefaultThreads) {
  BatchSampler sampler;
  EXPECT_GE(sampler.num_threads(), 1);
  EXPECT_LE(sampler.num_threads(), BatchSampler::kMaxThreads);
  sampler.sample({}, {});
  std::mt19937 rng(9);
  const Batch b = make_batch(rng, 64, 1000);
  const auto serial = run(nullptr, b, 7);
  const auto parallel = run(&sampler, b, 7);
  for (size_t s = 0; s < serial.size(); ++s)
    EXPECT_EQ(parallel[s].token_id, serial[s].token_id) << s;
}

}  // namespace
}  // namespace mm
