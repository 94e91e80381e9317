// Parity of the CogVideoX VAE against diffusers 0.33.1 on the goldens in ../shared/parity
// (float32 relative L2 <= 1e-4 for encode mean/logvar and decode, untiled and tiled).
#include <gtest/gtest.h>

#include <filesystem>

#include "mf/io/runtime.h"
#include "mf/vae/parity.h"

namespace {

double rel_l2(const torch::Tensor& got, const torch::Tensor& ref) {
  auto a = got.to(torch::kFloat64), b = ref.to(torch::kFloat64);
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

void check_file(const std::string& name) {
  const std::string path = std::string(MF_SHARED_DIR) + "/parity/" + name;
  ASSERT_TRUE(std::filesystem::exists(path)) << "no parity file " << path;
  mf::io::init_torch_runtime();
  auto file = mf::io::WeightSource::open(path);
  ASSERT_TRUE(mf::vae::is_vae_parity_file(file));
  auto results = mf::vae::run_vae_parity(file);
  ASSERT_EQ(results.size(), 3u);
  for (auto& r : results) {
    ASSERT_EQ(r.got.sizes(), r.reference.sizes()) << r.name;
    const double e = rel_l2(r.got, r.reference);
    EXPECT_LE(e, 1e-4) << name << " " << r.name;
    std::printf("%s %s rel_l2 %.3g\n", name.c_str(), r.name.c_str(), e);
  }
}

TEST(VaeParity, Untiled) { check_file("cogvideox_vae_tiny.safetensors"); }
TEST(VaeParity, Tiled) { check_file("cogvideox_vae_tiny_tiled.safetensors"); }

}  // namespace
