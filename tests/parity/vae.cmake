# The CogVideoX VAE (app/cli/parity_vae.cpp): every cogvideox_vae_*.safetensors (untiled, tiled, and any other
# file made the same way) runs `manyfold parity FILE`: encode in.video, decode in.latent, rel L2 <= 1e-4.
mf_add_parity_tests("cogvideox_vae_*.safetensors")
