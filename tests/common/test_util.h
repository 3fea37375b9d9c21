// Test helpers shared by the CPU and GPU suites: fresh random inputs each run (the seed is
// printed so a failure can be replayed with S24_TEST_SEED), poisoned outputs, and comparisons
// with per-dtype tolerances.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "sparse24/sparse24.h"

namespace s24::test {

// The run's base seed: S24_TEST_SEED if set, else from std::random_device. Printed once.
uint64_t base_seed();
// A generator for one test: base_seed() mixed with `salt`.
std::mt19937_64 rng(uint64_t salt = 0);

// A CPU tensor of `dtype` with values drawn uniformly from the integers [lo, hi] (exactly
// representable in every value dtype for |v| <= 16): sums stay exact, results are bit-exact.
Tensor random_int(const Shape& shape, DType dtype, std::mt19937_64& g, int lo = -4, int hi = 4);
// Normal(0, stddev) values rounded to `dtype`.
Tensor random_normal(const Shape& shape, DType dtype, std::mt19937_64& g, float stddev = 1.0f);
// F32 [count] of scales from {-2, -1, -0.5, 0.25, 0.5, 1, 2, 3}: with small-integer operands
// every f32 step of an epilogue that applies them stays exact.
Tensor exact_scales(int64_t count, std::mt19937_64& g);
// Fills every byte with 0xFF (NaN in every float dtype) so unwritten outputs show up.
void poison(Tensor& t);

// Relative error ||a - b|| / ||b|| in double over f32 copies; +inf when either holds NaN.
double rel_error(const Tensor& a, const Tensor& b);
// Exact equality of the bytes (shape and dtype must match too).
::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b);
// bit_equal, except that +0 and -0 match. The 2:4 format counts -0 as zero (docs/FORMAT.md):
// compress keeps a -0 byte for byte only where the completion rule picks its position, so a
// round trip of a matrix holding -0 is exact up to the sign of its zeros.
::testing::AssertionResult bit_equal_up_to_zero_sign(const Tensor& a, const Tensor& b);
// The per-dtype tolerance for a product with K-long f32-accumulated sums, inputs rounded to
// `dtype`: f32 1e-5, f16 2e-3, bf16 1.6e-2, fp8 e4m3 8e-2, e5m2 1.5e-1, i8 0.
double tolerance(DType dtype);

// The source tree: S24_SOURCE_DIR (ctest sets it) or, for a suite run by hand, the tree this
// helper was compiled from.
std::string source_dir();
// The all-MiniLM-L6-v2 folder (config.json, model.safetensors, vocab.txt): S24_MODEL_DIR, else
// where scripts/install_deps.sh puts it.
std::string model_dir();

// Throws an s24::Error with the given code (and checks the message mentions `needle`).
#define S24_EXPECT_ERROR(stmt, error_code, needle)                                          \
  do {                                                                                      \
    try {                                                                                   \
      stmt;                                                                                 \
      ADD_FAILURE() << "expected s24::Error(" #error_code ") from: " #stmt;                 \
    } catch (const ::s24::Error& e) {                                                       \
      EXPECT_EQ(e.code(), ::s24::ErrorCode::error_code) << e.what();                        \
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)                      \
          << "message '" << e.what() << "' does not mention '" << needle << "'";            \
    }                                                                                       \
  } while (0)

}  // namespace s24::test
